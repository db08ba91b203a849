package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/config"
)

// These tests change the process environment and working directory, so
// none of them runs in parallel.

const (
	testDB     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	strongKey  = "k7Qz1vB9xR2mN8pL4wT6yH3jF5dS0aGc"
	strongKey2 = "Zp9Xq2Lm7Rt4Vb8Nc1Kd6Hs3Jf5Gw0Ya"
)

// isolate unsets every configuration variable for the test and moves it
// to an empty directory, so neither the machine's environment nor a
// stray .env file leaks in.
func isolate(t *testing.T) {
	t.Helper()
	for _, k := range append(config.Keys(), "CONFIG_FILE") {
		t.Setenv(k, "") // restores the original value after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(t.TempDir())
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func mustLoad(t *testing.T, file string) *config.Config {
	t.Helper()
	c, err := config.Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// problems returns the validation problems of err, failing the test if
// err is not a *config.ValidationError.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error = %v, want a *config.ValidationError", err)
	}
	return ve.Problems
}

func TestLoad_defaults(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	c := mustLoad(t, "")

	if !c.SecretKeyGenerated || len(c.SecretKey) < config.MinSecretKeyBytes {
		t.Errorf("SecretKey = %d bytes, generated %v; want a generated key of at least 32 bytes", len(c.SecretKey), c.SecretKeyGenerated)
	}
	c.SecretKey, c.SecretKeyGenerated = "", false
	want := config.Config{
		Env: "development", HTTPAddr: ":8000", AdminAddr: "127.0.0.1:9090", DatabaseURL: testDB, DataDir: "./data",
		CacheBackend: "memory", RedisURL: "redis://localhost:6379/0", CacheTTL: 60 * time.Second,
		JWTTTL: 30 * time.Minute, BcryptCost: 12, LogLevel: "info", LogFormat: "json",
		BodyLimit: 1 << 20, RequestTimeout: 10 * time.Second, ShutdownTimeout: 15 * time.Second,
		InviteTTL: 168 * time.Hour, DBMaxOpenConns: 20, MigrateOnStart: true,
		RefreshTTL: 720 * time.Hour, AuthPerMinute: 10, OrgPerMinute: 12000,
		StartupTimeout: time.Minute, ShutdownDrain: 0, EventRetention: 720 * time.Hour,
		WebhookTimeout: 10 * time.Second, WebhookDisableAfter: 20,
		WebhookRetrySchedule: []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 4 * time.Hour, 12 * time.Hour},
		StreamMaxPerOrg:      100, CacheMemoryMaxBytes: 16 << 20,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("Load =\n%#v\nwant\n%#v", *c, want)
	}
}

func TestLoad_no_database_url_selects_the_embedded_store(t *testing.T) {
	isolate(t)
	c := mustLoad(t, "")
	st, err := c.Store()
	if err != nil || st != (config.Store{Kind: config.StoreSQLite, Path: filepath.Join("data", "taskflow.db")}) {
		t.Fatalf("Store() = %+v, %v; want SQLite at data/taskflow.db", st, err)
	}
	t.Setenv("DATA_DIR", "/var/lib/taskflow")
	if st, _ := mustLoad(t, "").Store(); st.Path != "/var/lib/taskflow/taskflow.db" {
		t.Fatalf("with DATA_DIR set, Store().Path = %q", st.Path)
	}
}

func TestConfig_Store(t *testing.T) {
	for _, c := range []struct {
		url, dataDir string
		want         config.Store
	}{
		{"", "./data", config.Store{Kind: config.StoreSQLite, Path: "data/taskflow.db"}},
		{"", "relative/dir/", config.Store{Kind: config.StoreSQLite, Path: "relative/dir/taskflow.db"}},
		{"sqlite:relative/path.db", "./data", config.Store{Kind: config.StoreSQLite, Path: "relative/path.db"}},
		{"sqlite:./here.db", "", config.Store{Kind: config.StoreSQLite, Path: "here.db"}},
		{"sqlite:///abs/path.db", "./data", config.Store{Kind: config.StoreSQLite, Path: "/abs/path.db"}},
		{"sqlite:/abs/path.db", "./data", config.Store{Kind: config.StoreSQLite, Path: "/abs/path.db"}},
		{"sqlite:with%20space.db", "./data", config.Store{Kind: config.StoreSQLite, Path: "with space.db"}},
		{testDB, "./data", config.Store{Kind: config.StorePostgres, URL: testDB, MigrationURL: testDB}},
		{"postgresql://u@db/tf", "", config.Store{Kind: config.StorePostgres, URL: "postgresql://u@db/tf", MigrationURL: "postgresql://u@db/tf"}},
	} {
		got, err := (&config.Config{DatabaseURL: c.url, DataDir: c.dataDir}).Store()
		if err != nil || got != c.want {
			t.Errorf("DATABASE_URL=%q DATA_DIR=%q: Store() = %+v, %v; want %+v", c.url, c.dataDir, got, err, c.want)
		}
	}
}

func TestLoad_migration_database_url_runs_the_migrations_as_the_owner(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", "postgres://taskflow:app@db/taskflow")
	if st, _ := mustLoad(t, "").Store(); st.MigrationURL != st.URL {
		t.Fatalf("without MIGRATION_DATABASE_URL, MigrationURL = %q, want DATABASE_URL", st.MigrationURL)
	}
	t.Setenv("MIGRATION_DATABASE_URL", "postgres://taskflow_owner:hunter2@db/taskflow")
	c := mustLoad(t, "")
	st, _ := c.Store()
	if st.URL != "postgres://taskflow:app@db/taskflow" || st.MigrationURL != "postgres://taskflow_owner:hunter2@db/taskflow" {
		t.Fatalf("Store() = %+v", st)
	}
	if strings.Contains(c.String(), "hunter2") {
		t.Fatalf("the configuration shows the migration password: %s", c)
	}
}

func TestLoad_notify_database_url_is_a_direct_postgres_url_for_listen(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", "postgres://taskflow:app@pgbouncer:6432/taskflow")
	if c := mustLoad(t, ""); c.NotifyDatabaseURL != "" {
		t.Fatalf("without NOTIFY_DATABASE_URL, NotifyDatabaseURL = %q, want empty (DATABASE_URL applies)", c.NotifyDatabaseURL)
	}
	t.Setenv("NOTIFY_DATABASE_URL", "postgres://taskflow:hunter2@db:5432/taskflow")
	c := mustLoad(t, "")
	if c.NotifyDatabaseURL != "postgres://taskflow:hunter2@db:5432/taskflow" {
		t.Fatalf("NotifyDatabaseURL = %q", c.NotifyDatabaseURL)
	}
	if strings.Contains(c.String(), "hunter2") {
		t.Fatalf("the configuration shows the notify password: %s", c)
	}
}

func TestLoad_bad_store_settings_are_refused(t *testing.T) {
	for _, c := range []struct {
		key, value, want string
	}{
		{"DATABASE_URL", "sqlite::memory:", "in-memory and file: URI databases are not supported"},
		{"DATABASE_URL", "sqlite:file:x.db", "in-memory and file: URI databases are not supported"},
		{"DATABASE_URL", "sqlite://host/x.db", "names a host; want sqlite:relative/file.db or sqlite:///absolute/file.db"},
		{"DATABASE_URL", "sqlite:x.db?_pragma=foreign_keys(0)", "takes no options"},
		{"DATABASE_URL", "sqlite:", "names no file"},
		{"DATABASE_URL", "sqlite:///var/lib/", "names no file"},
		{"DATABASE_URL", "mysql://root:hunter2@db/tf", `DATABASE_URL must be empty (the embedded SQLite store in DATA_DIR), a sqlite: URL such as sqlite:data/taskflow.db or sqlite:///var/lib/taskflow/taskflow.db, or a URL starting with postgres:// or postgresql://, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; got scheme "mysql"`},
		{"DATABASE_URL", "host=db user=postgres password=hunter2", `got a value with no scheme`},
		{"DATABASE_URL", "data/taskflow.db", `got a value with no scheme`},
		{"MIGRATION_DATABASE_URL", "postgres://owner:hunter2@db/tf", "MIGRATION_DATABASE_URL applies to Postgres only"},
		{"MIGRATION_DATABASE_URL", "sqlite:x.db", `MIGRATION_DATABASE_URL must be a URL starting with postgres:// or postgresql://`},
		{"NOTIFY_DATABASE_URL", "postgres://app:hunter2@db/tf", "NOTIFY_DATABASE_URL applies to Postgres only"},
		{"NOTIFY_DATABASE_URL", "redis://db:6379", `NOTIFY_DATABASE_URL must be a URL starting with postgres:// or postgresql://, reaching Postgres without a pooler`},
	} {
		t.Run(c.value, func(t *testing.T) {
			isolate(t)
			t.Setenv(c.key, c.value)
			_, err := config.Load("")
			ps := problems(t, err)
			if len(ps) != 1 || !strings.Contains(ps[0], c.want) {
				t.Fatalf("problems = %q, want one containing %q", ps, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

// TestLoad_production_on_sqlite_still_needs_a_strong_key: the embedded
// store is allowed in production; the secret rules do not relax with it.
func TestLoad_production_on_sqlite_still_needs_a_strong_key(t *testing.T) {
	isolate(t)
	t.Setenv("APP_ENV", "production")
	_, err := config.Load("")
	if ps := problems(t, err); len(ps) != 1 || !strings.Contains(ps[0], "SECRET_KEY is required") {
		t.Fatalf("problems = %q, want SECRET_KEY required", ps)
	}
	t.Setenv("SECRET_KEY", strongKey)
	if st, _ := mustLoad(t, "").Store(); st.Kind != config.StoreSQLite {
		t.Fatalf("Store().Kind = %q, want sqlite", st.Kind)
	}
}

func TestLoad_environment_overrides_defaults(t *testing.T) {
	isolate(t)
	env := map[string]string{
		"APP_ENV": "production", "HTTP_ADDR": "127.0.0.1:9000", "ADMIN_ADDR": "0.0.0.0:9091", "DATABASE_URL": "postgresql://u:pw@db:5432/tf", "DATA_DIR": "/srv/tf",
		"SECRET_KEY": strongKey, "CACHE_BACKEND": "redis", "REDIS_URL": "redis://cache:6379/1",
		"CACHE_TTL": "2m", "JWT_TTL": "1h", "BCRYPT_COST": "10", "LOG_LEVEL": "debug", "LOG_FORMAT": "text",
		"BODY_LIMIT": "2048", "REQUEST_TIMEOUT": "3s", "SHUTDOWN_TIMEOUT": "1m", "INVITE_TTL": "24h",
		"DB_MAX_OPEN_CONNS": "5", "MIGRATE_ON_START": "false", "STARTUP_TIMEOUT": "2m", "SHUTDOWN_DRAIN": "12s",
		"EVENT_RETENTION":    "48h",
		"STREAM_MAX_PER_ORG": "7", "CACHE_MEMORY_MAX_BYTES": "1048576",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	got := *mustLoad(t, "")
	want := config.Config{
		Env: "production", HTTPAddr: "127.0.0.1:9000", AdminAddr: "0.0.0.0:9091", DatabaseURL: "postgresql://u:pw@db:5432/tf", DataDir: "/srv/tf",
		SecretKey: strongKey, CacheBackend: "redis", RedisURL: "redis://cache:6379/1", CacheTTL: 2 * time.Minute,
		JWTTTL: time.Hour, BcryptCost: 10, LogLevel: "debug", LogFormat: "text", BodyLimit: 2048,
		RequestTimeout: 3 * time.Second, ShutdownTimeout: time.Minute, InviteTTL: 24 * time.Hour,
		DBMaxOpenConns: 5, MigrateOnStart: false,
		RefreshTTL: 720 * time.Hour, AuthPerMinute: 10, OrgPerMinute: 12000,
		StartupTimeout: 2 * time.Minute, ShutdownDrain: 12 * time.Second, EventRetention: 48 * time.Hour,
		WebhookTimeout: 10 * time.Second, WebhookDisableAfter: 20,
		WebhookRetrySchedule: []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 4 * time.Hour, 12 * time.Hour},
		StreamMaxPerOrg:      7, CacheMemoryMaxBytes: 1 << 20,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%#v\nwant\n%#v", got, want)
	}
}

func TestLoad_empty_environment_variable_counts_as_unset(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("HTTP_ADDR", "")
	if c := mustLoad(t, ""); c.HTTPAddr != ":8000" {
		t.Fatalf("HTTPAddr = %q, want the default", c.HTTPAddr)
	}
}

func TestLoad_dotenv(t *testing.T) {
	t.Run("is_read_from_the_working_directory", func(t *testing.T) {
		isolate(t)
		write(t, ".env", strings.Join([]string{
			"# local settings",
			"",
			"DATABASE_URL=" + testDB,
			`SECRET_KEY="` + strongKey + `"`,
			"export HTTP_ADDR=:9001",
			"LOG_LEVEL='warn'",
			"CACHE_TTL=5m # inline comment",
			"POSTGRES_PASSWORD=for-docker-compose-only",
		}, "\n"))
		c := mustLoad(t, "")
		if c.DatabaseURL != testDB || c.SecretKey != strongKey || c.SecretKeyGenerated ||
			c.HTTPAddr != ":9001" || c.LogLevel != "warn" || c.CacheTTL != 5*time.Minute {
			t.Fatalf("Load = %#v, want the .env values", *c)
		}
	})

	t.Run("environment_wins_over_it", func(t *testing.T) {
		isolate(t)
		write(t, ".env", "DATABASE_URL="+testDB+"\nHTTP_ADDR=:9001\nJWT_TTL=10m\n")
		t.Setenv("HTTP_ADDR", ":9002")
		c := mustLoad(t, "")
		if c.HTTPAddr != ":9002" || c.JWTTTL != 10*time.Minute {
			t.Fatalf("HTTPAddr = %q, JWTTTL = %v; want :9002 from the environment and 10m from .env", c.HTTPAddr, c.JWTTTL)
		}
	})

	t.Run("malformed_line_names_the_line_without_its_content", func(t *testing.T) {
		isolate(t)
		write(t, ".env", "DATABASE_URL="+testDB+"\nSECRET_KEY hunter2hunter2\n")
		_, err := config.Load("")
		if err == nil || !strings.Contains(err.Error(), ".env:2") || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("Load error = %v, want one naming .env:2 and not showing the line", err)
		}
	})

	t.Run("unterminated_quote_is_an_error", func(t *testing.T) {
		isolate(t)
		write(t, ".env", `LOG_LEVEL="debug`+"\n")
		if _, err := config.Load(""); err == nil || !strings.Contains(err.Error(), ".env:1") {
			t.Fatalf("Load error = %v, want one naming .env:1", err)
		}
	})
}

func TestLoad_config_file(t *testing.T) {
	files := map[string]string{
		"taskflow.yaml": "database_url: " + testDB + "\nHTTP_ADDR: \":7000\"\nbcrypt_cost: 11\ncache_ttl: 90s\nmigrate_on_start: false\nbody_limit: 2097152\n",
		"taskflow.yml":  "database_url: " + testDB + "\nhttp_addr: \":7000\"\nbcrypt_cost: 11\ncache_ttl: 90s\nmigrate_on_start: false\nbody_limit: 2097152\n",
		"taskflow.json": `{"database_url":"` + testDB + `","http_addr":":7000","bcrypt_cost":11,"cache_ttl":"90s","migrate_on_start":false,"body_limit":2097152}`,
		"taskflow.toml": "database_url = \"" + testDB + "\"\nhttp_addr = \":7000\"\nbcrypt_cost = 11\ncache_ttl = \"90s\"\nmigrate_on_start = false\nbody_limit = 2097152\n",
	}
	for name, content := range files {
		t.Run("reads_"+strings.TrimPrefix(filepath.Ext(name), "."), func(t *testing.T) {
			isolate(t)
			c := mustLoad(t, write(t, name, content))
			if c.DatabaseURL != testDB || c.HTTPAddr != ":7000" || c.BcryptCost != 11 ||
				c.CacheTTL != 90*time.Second || c.MigrateOnStart || c.BodyLimit != 2097152 {
				t.Fatalf("Load = %#v, want the file's values", *c)
			}
		})
	}

	t.Run("is_named_by_CONFIG_FILE", func(t *testing.T) {
		isolate(t)
		t.Setenv("CONFIG_FILE", write(t, "c.yaml", "database_url: "+testDB+"\nlog_format: text\n"))
		if c := mustLoad(t, ""); c.LogFormat != "text" {
			t.Fatalf("LogFormat = %q, want text from CONFIG_FILE", c.LogFormat)
		}
	})

	t.Run("dotenv_and_environment_win_over_it", func(t *testing.T) {
		isolate(t)
		path := write(t, "c.yaml", "database_url: "+testDB+"\nlog_level: debug\nlog_format: text\njwt_ttl: 5m\n")
		write(t, ".env", "LOG_LEVEL=warn\nLOG_FORMAT=json\n")
		t.Setenv("LOG_LEVEL", "error")
		c := mustLoad(t, path)
		if c.LogLevel != "error" || c.LogFormat != "json" || c.JWTTTL != 5*time.Minute {
			t.Fatalf("LogLevel %q, LogFormat %q, JWTTTL %v; want error (env), json (.env), 5m (file)", c.LogLevel, c.LogFormat, c.JWTTTL)
		}
	})

	t.Run("missing_explicit_file_is_an_error", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		_, err := config.Load("nope.yaml")
		if err == nil || !strings.Contains(err.Error(), "nope.yaml does not exist") {
			t.Fatalf("Load error = %v, want the missing file named", err)
		}
	})

	t.Run("unsupported_extension_is_an_error", func(t *testing.T) {
		isolate(t)
		_, err := config.Load(write(t, "c.ini", "x=1"))
		if err == nil || !strings.Contains(err.Error(), "unsupported extension") {
			t.Fatalf("Load error = %v, want unsupported extension", err)
		}
	})

	t.Run("malformed_file_is_an_error", func(t *testing.T) {
		isolate(t)
		if _, err := config.Load(write(t, "c.json", "{not json")); err == nil {
			t.Fatal("Load of malformed JSON succeeded")
		}
	})

	t.Run("unknown_key_is_reported", func(t *testing.T) {
		isolate(t)
		ps := problems(t, func() error {
			_, err := config.Load(write(t, "c.yaml", "database_url: "+testDB+"\nhttp_adress: \":1\"\n"))
			return err
		}())
		if len(ps) != 1 || !strings.Contains(ps[0], `unknown key "http_adress"`) {
			t.Fatalf("problems = %q, want the unknown key", ps)
		}
	})
}

func TestLoad_invalid_value(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"APP_ENV", "prod", `APP_ENV must be one of "development", "production", "test", got "prod"`},
		{"HTTP_ADDR", "8000", `HTTP_ADDR must be host:port or :port, such as ":8000" or "127.0.0.1:8000", got "8000"`},
		{"HTTP_ADDR", ":http-alt", `HTTP_ADDR must be host:port or :port`},
		{"ADMIN_ADDR", "9090", `ADMIN_ADDR must be host:port or :port, such as "127.0.0.1:9090", or empty to turn the admin listener off, got "9090"`},
		{"ADMIN_ADDR", "localhost:99999", `ADMIN_ADDR must be host:port or :port`},
		{"ADMIN_ADDR", ":8000", `ADMIN_ADDR must differ from HTTP_ADDR (":8000"): metrics and profiles are never served on the public listener`},
		{"DATABASE_URL", "mysql://root:hunter2@db/tf", `or a URL starting with postgres:// or postgresql://, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; got scheme "mysql"`},
		{"SECRET_KEY", "too-short", `SECRET_KEY must be at least 32 bytes, got 9`},
		{"CACHE_BACKEND", "mem", `CACHE_BACKEND must be "memory" or "redis", got "mem"`},
		{"CACHE_TTL", "60", `CACHE_TTL must be a duration with a unit, such as "60s" or "30m", got "60"`},
		{"CACHE_TTL", "0s", `CACHE_TTL must be between 1s and 24h, got "0s"`},
		{"JWT_TTL", "25h", `JWT_TTL must be between 1m and 24h, got "25h"`},
		{"JWT_TTL", "30s", `JWT_TTL must be between 1m and 24h, got "30s"`},
		{"BCRYPT_COST", "9", `BCRYPT_COST must be a whole number from 10 to 14, got "9"`},
		{"BCRYPT_COST", "15", `BCRYPT_COST must be a whole number from 10 to 14, got "15"`},
		{"BCRYPT_COST", "twelve", `BCRYPT_COST must be a whole number from 10 to 14, got "twelve"`},
		{"LOG_LEVEL", "verbose", `LOG_LEVEL must be one of "debug", "info", "warn", "error", got "verbose"`},
		{"LOG_FORMAT", "xml", `LOG_FORMAT must be "json" or "text", got "xml"`},
		{"BODY_LIMIT", "100", `BODY_LIMIT must be a whole number from 1024 to 67108864, got "100"`},
		{"BODY_LIMIT", "1MiB", `BODY_LIMIT must be a whole number from 1024 to 67108864, got "1MiB"`},
		{"REQUEST_TIMEOUT", "-1s", `REQUEST_TIMEOUT must be between 1ms and 1h, got "-1s"`},
		{"SHUTDOWN_TIMEOUT", "soon", `SHUTDOWN_TIMEOUT must be a duration with a unit`},
		{"INVITE_TTL", "0", `INVITE_TTL must be between 1m and 8760h, got "0"`},
		{"INVITE_TTL", "7d", `INVITE_TTL must be a duration with a unit`},
		{"EVENT_RETENTION", "30m", `EVENT_RETENTION must be between 1h and 87600h, got "30m"`},
		{"EVENT_RETENTION", "30d", `EVENT_RETENTION must be a duration with a unit`},
		{"DB_MAX_OPEN_CONNS", "0", `DB_MAX_OPEN_CONNS must be a whole number from 1 to 10000, got "0"`},
		{"MIGRATE_ON_START", "yes", `MIGRATE_ON_START must be true or false, got "yes"`},
		{"STARTUP_TIMEOUT", "60", `STARTUP_TIMEOUT must be a duration with a unit, such as "60s" or "30m", got "60"`},
		{"STARTUP_TIMEOUT", "-1s", `STARTUP_TIMEOUT must be between 0s and 1h, got "-1s"`},
		{"STARTUP_TIMEOUT", "2h", `STARTUP_TIMEOUT must be between 0s and 1h, got "2h"`},
		{"SHUTDOWN_DRAIN", "5", `SHUTDOWN_DRAIN must be a duration with a unit, such as "60s" or "30m", got "5"`},
		{"SHUTDOWN_DRAIN", "-1s", `SHUTDOWN_DRAIN must be between 0s and 10m, got "-1s"`},
		{"SHUTDOWN_DRAIN", "11m", `SHUTDOWN_DRAIN must be between 0s and 10m, got "11m"`},
		{"STREAM_MAX_PER_ORG", "0", `STREAM_MAX_PER_ORG must be a whole number from 1 to 100000, got "0"`},
		{"CACHE_MEMORY_MAX_BYTES", "0", `CACHE_MEMORY_MAX_BYTES must be a whole number from 65536 to 1073741824, got "0"`},
		{"CACHE_MEMORY_MAX_BYTES", "-1", `CACHE_MEMORY_MAX_BYTES must be a whole number from 65536 to 1073741824, got "-1"`},
		{"CACHE_MEMORY_MAX_BYTES", "8MiB", `CACHE_MEMORY_MAX_BYTES must be a whole number from 65536 to 1073741824, got "8MiB"`},
		{"CACHE_MEMORY_MAX_BYTES", "2147483648", `CACHE_MEMORY_MAX_BYTES must be a whole number from 65536 to 1073741824, got "2147483648"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%s", tt.key, tt.value), func(t *testing.T) {
			isolate(t)
			t.Setenv("DATABASE_URL", testDB)
			t.Setenv(tt.key, tt.value)
			_, err := config.Load("")
			ps := problems(t, err)
			if len(ps) != 1 || !strings.Contains(ps[0], tt.want) {
				t.Fatalf("problems = %q, want one containing %q", ps, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}

	t.Run("redis_url_is_checked_when_redis_is_the_backend", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		t.Setenv("REDIS_URL", "localhost:6379")
		if _, err := config.Load(""); err != nil {
			t.Fatalf("an unused REDIS_URL was refused: %v", err)
		}
		t.Setenv("CACHE_BACKEND", "redis")
		_, err := config.Load("")
		if ps := problems(t, err); len(ps) != 1 || !strings.Contains(ps[0], `REDIS_URL must be a URL starting with redis://, rediss:// or unix:// when CACHE_BACKEND is "redis", e.g. redis://localhost:6379/0, got`) {
			t.Fatalf("problems = %q", ps)
		}
	})

	t.Run("redis_cluster_url_is_checked_in_its_own_form", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		t.Setenv("CACHE_BACKEND", "redis")
		t.Setenv("REDIS_CLUSTER", "true")
		t.Setenv("REDIS_URL", "redis://:pw@n1:7000?addr=n2:7001&addr=n3:7002")
		c, err := config.Load("")
		if err != nil {
			t.Fatalf("a cluster URL was refused: %v", err)
		}
		if !c.RedisCluster || c.RedisURL != "redis://:pw@n1:7000?addr=n2:7001&addr=n3:7002" {
			t.Fatalf("RedisCluster, RedisURL = %v, %q", c.RedisCluster, c.RedisURL)
		}
		for url, want := range map[string]string{
			"unix:///run/redis.sock":        "REDIS_URL must be a URL starting with redis:// or rediss:// when REDIS_CLUSTER is true",
			"redis://n1:7000/3":             "a Redis Cluster has only database 0, got /3",
			"redis://n1:7000?addr=n2":       `each addr parameter must be host:port, got "n2"`,
			"redis://?addr=n2:7001":         "must name a cluster node in its host",
			"n1:7000?addr=n2:7001":          "REDIS_URL must be a URL starting with redis:// or rediss://",
			"redis://:hunter2@n1:7000/1":    "only database 0",
			"redis://n1:7000/0?addr=n2:700": "",
		} {
			t.Setenv("REDIS_URL", url)
			_, err := config.Load("")
			if want == "" {
				if err != nil {
					t.Errorf("REDIS_URL=%s refused: %v", url, err)
				}
				continue
			}
			if ps := problems(t, err); len(ps) != 1 || !strings.Contains(ps[0], want) {
				t.Errorf("REDIS_URL=%s: problems = %q, want one containing %q", url, ps, want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a password: %v", err)
			}
		}
		// A URL valid in both forms: the loop above left whichever one a
		// map's order put last, and "n1:7000?..." made this a flake.
		t.Setenv("REDIS_URL", "redis://n1:7000/0")
		t.Setenv("REDIS_CLUSTER", "yes")
		if ps := problems(t, func() error { _, err := config.Load(""); return err }()); len(ps) != 1 || !strings.Contains(ps[0], `REDIS_CLUSTER must be true or false, got "yes"`) {
			t.Fatalf("problems = %q", ps)
		}
	})

	t.Run("every_problem_is_listed_at_once", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", "mysql://db/tf")
		t.Setenv("CACHE_BACKEND", "mem")
		t.Setenv("BCRYPT_COST", "4")
		t.Setenv("LOG_FORMAT", "xml")
		_, err := config.Load("")
		if ps := problems(t, err); len(ps) != 4 {
			t.Fatalf("problems = %q, want 4", ps)
		}
		for _, key := range []string{"DATABASE_URL", "CACHE_BACKEND", "BCRYPT_COST", "LOG_FORMAT"} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error does not mention %s:\n%v", key, err)
			}
		}
	})

	t.Run("enumerations_ignore_case", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		t.Setenv("APP_ENV", "Test")
		t.Setenv("LOG_LEVEL", "DEBUG")
		if c := mustLoad(t, ""); c.Env != "test" || c.LogLevel != "debug" {
			t.Fatalf("Env %q, LogLevel %q", c.Env, c.LogLevel)
		}
	})
}

func TestLoad_secret_key(t *testing.T) {
	refused := []struct{ name, env, key, want string }{
		{"production_refuses_a_missing_key", "production", "", "SECRET_KEY is required when APP_ENV is production"},
		{"production_refuses_a_short_key", "production", "s3cr3t-but-only-24-bytes", "SECRET_KEY must be at least 32 bytes, got 24"},
		{"production_refuses_change_me", "production", "change-me", "well-known placeholder"},
		{"production_refuses_secret", "production", "secret", "well-known placeholder"},
		{"production_refuses_your_secret_key_here", "production", "your-secret-key-here", "well-known placeholder"},
		{"production_refuses_a_long_placeholder", "production", "your-secret-key-here-change-it-in-production", "well-known placeholder"},
		{"production_refuses_a_repeated_character", "production", strings.Repeat("a", 64), "too little variety"},
		{"development_refuses_a_short_key", "development", "changeme", "SECRET_KEY must be at least 32 bytes, got 8"},
		{"test_refuses_a_short_key", "test", "0123456789abcdef0123456789abcde", "SECRET_KEY must be at least 32 bytes, got 31"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			t.Setenv("DATABASE_URL", testDB)
			t.Setenv("APP_ENV", tt.env)
			t.Setenv("SECRET_KEY", tt.key)
			_, err := config.Load("")
			ps := problems(t, err)
			if len(ps) != 1 || !strings.Contains(ps[0], tt.want) || !strings.Contains(ps[0], "openssl rand") {
				t.Fatalf("problems = %q, want one containing %q and how to generate a key", ps, tt.want)
			}
		})
	}

	t.Run("production_accepts_a_strong_key", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		t.Setenv("APP_ENV", "production")
		t.Setenv("SECRET_KEY", strongKey)
		if c := mustLoad(t, ""); c.SecretKey != strongKey || c.SecretKeyGenerated {
			t.Fatalf("SecretKey %q, generated %v", c.SecretKey, c.SecretKeyGenerated)
		}
	})

	for _, env := range []string{"development", "test"} {
		t.Run(env+"_generates_a_missing_key", func(t *testing.T) {
			isolate(t)
			t.Setenv("DATABASE_URL", testDB)
			t.Setenv("APP_ENV", env)
			a, b := mustLoad(t, ""), mustLoad(t, "")
			if !a.SecretKeyGenerated || len(a.SecretKey) < config.MinSecretKeyBytes {
				t.Fatalf("SecretKey %d bytes, generated %v; want a generated 32-byte key", len(a.SecretKey), a.SecretKeyGenerated)
			}
			if a.SecretKey == b.SecretKey {
				t.Fatal("two loads generated the same key")
			}
		})
	}

	t.Run("development_accepts_a_long_placeholder", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		key := "dev-only-change-me-in-production-please"
		t.Setenv("SECRET_KEY", key)
		if c := mustLoad(t, ""); c.SecretKey != key {
			t.Fatalf("SecretKey = %q", c.SecretKey)
		}
	})
}

func TestConfig_Redacted_hides_secrets(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", "postgres://app:db-hunter2@db:5432/tf?sslmode=require&sslpassword=ssl-hunter2")
	t.Setenv("SECRET_KEY", strongKey2)
	t.Setenv("CACHE_BACKEND", "redis")
	t.Setenv("REDIS_URL", "redis://:redis-hunter2@cache:6379/0")
	c := mustLoad(t, "")

	r := c.Redacted()
	if len(r) != len(config.Keys()) {
		t.Errorf("Redacted has %d keys, want one per setting (%d)", len(r), len(config.Keys()))
	}
	if r["DATABASE_URL"] != "postgres://app:xxxxx@db:5432/tf?sslmode=require&sslpassword=xxxxx" {
		t.Errorf("DATABASE_URL = %v", r["DATABASE_URL"])
	}
	if r["REDIS_URL"] != "redis://:xxxxx@cache:6379/0" {
		t.Errorf("REDIS_URL = %v", r["REDIS_URL"])
	}

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for name, out := range map[string]string{
		"Redacted": fmt.Sprint(r), "String": c.String(), "%v": fmt.Sprintf("%v", c), "slog": logged.String(),
	} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, strongKey2) {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, "SECRET_KEY") || !strings.Contains(out, "db:5432") {
			t.Errorf("%s is missing the settings: %s", name, out)
		}
	}
}

func TestLoad_rotation_rate_limits_and_cors(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("SECRET_KEY", "k1-0123456789abcdefghijklmnopqrstuvwxyz")
	t.Setenv("SECRET_KEY_PREVIOUS", "k0-0123456789abcdefghijklmnopqrstuvwxyz")
	t.Setenv("RATE_LIMIT_AUTH_PER_MINUTE", "0")
	t.Setenv("CORS_ORIGINS", "https://app.example.com, http://localhost:3000/")
	c := mustLoad(t, "")
	if c.SecretKeyPrevious != "k0-0123456789abcdefghijklmnopqrstuvwxyz" || c.AuthPerMinute != 0 {
		t.Fatalf("config = %+v", c)
	}
	if want := []string{"https://app.example.com", "http://localhost:3000"}; !reflect.DeepEqual(c.CORSOrigins, want) {
		t.Fatalf("CORSOrigins = %q, want %q", c.CORSOrigins, want)
	}
}

func TestLoad_bad_rotation_key_and_origins_are_refused(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("SECRET_KEY_PREVIOUS", "short")
	t.Setenv("CORS_ORIGINS", "*,ftp://x")
	t.Setenv("RATE_LIMIT_ORG_PER_MINUTE", "-1")
	_, err := config.Load("")
	got := strings.Join(problems(t, err), "\n")
	for _, want := range []string{"SECRET_KEY_PREVIOUS must be at least 32 bytes", `"*" is not one`, `"ftp://x" is not one`, "RATE_LIMIT_ORG_PER_MINUTE must be a whole number"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}

// TestLoad_shutdown_drain_depends_on_the_environment: a stopping replica
// keeps serving for 5 s in production, where a load balancer must see
// /ready fail before the listener closes, and stops at once elsewhere;
// an explicit value wins in either, 0s included.
func TestLoad_shutdown_drain_depends_on_the_environment(t *testing.T) {
	for _, c := range []struct {
		env, drain string
		want       time.Duration
		shown      string
	}{
		{"development", "", 0, "0s"},
		{"test", "", 0, "0s"},
		{"production", "", 5 * time.Second, "5s"},
		{"production", "0s", 0, "0s"},
		{"production", "30s", 30 * time.Second, "30s"},
		{"development", "2s", 2 * time.Second, "2s"},
	} {
		t.Run(c.env+"_"+c.drain, func(t *testing.T) {
			isolate(t)
			t.Setenv("DATABASE_URL", testDB)
			t.Setenv("SECRET_KEY", strongKey)
			t.Setenv("APP_ENV", c.env)
			t.Setenv("SHUTDOWN_DRAIN", c.drain)
			cfg := mustLoad(t, "")
			if cfg.ShutdownDrain != c.want {
				t.Fatalf("ShutdownDrain = %s, want %s", cfg.ShutdownDrain, c.want)
			}
			if got := cfg.Redacted()["SHUTDOWN_DRAIN"]; got != c.shown {
				t.Fatalf("Redacted SHUTDOWN_DRAIN = %v", got)
			}
		})
	}
}

func TestLoad_startup_timeout_zero_means_one_attempt(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("STARTUP_TIMEOUT", "0s")
	if c := mustLoad(t, ""); c.StartupTimeout != 0 {
		t.Fatalf("StartupTimeout = %s, want 0", c.StartupTimeout)
	}
}

func TestLoad_empty_admin_addr_turns_the_admin_listener_off(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		t.Setenv("ADMIN_ADDR", "")
		if c := mustLoad(t, ""); c.AdminAddr != "" {
			t.Fatalf("AdminAddr = %q, want empty (off)", c.AdminAddr)
		}
	})
	t.Run("config_file", func(t *testing.T) {
		isolate(t)
		c := mustLoad(t, write(t, "c.yaml", "database_url: "+testDB+"\nadmin_addr: \"\"\n"))
		if c.AdminAddr != "" {
			t.Fatalf("AdminAddr = %q, want empty (off)", c.AdminAddr)
		}
	})
	t.Run("unset_keeps_the_default", func(t *testing.T) {
		isolate(t)
		t.Setenv("DATABASE_URL", testDB)
		if c := mustLoad(t, ""); c.AdminAddr != "127.0.0.1:9090" {
			t.Fatalf("AdminAddr = %q, want the default 127.0.0.1:9090", c.AdminAddr)
		}
	})
}

func TestLoad_webhook_settings(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	c := mustLoad(t, "")
	want := []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 4 * time.Hour, 12 * time.Hour}
	if !slices.Equal(c.WebhookRetrySchedule, want) || c.WebhookTimeout != 10*time.Second ||
		c.WebhookDisableAfter != 20 || c.WebhookAllowPrivate {
		t.Fatalf("webhook defaults = %v %s %d %v", c.WebhookRetrySchedule, c.WebhookTimeout, c.WebhookDisableAfter, c.WebhookAllowPrivate)
	}
	if got := c.Redacted()["WEBHOOK_RETRY_SCHEDULE"]; got != "30s,2m,10m,1h,4h,12h" {
		t.Fatalf("Redacted WEBHOOK_RETRY_SCHEDULE = %v", got)
	}
	t.Setenv("WEBHOOK_RETRY_SCHEDULE", " 100ms, 1s ")
	t.Setenv("WEBHOOK_ALLOW_PRIVATE", "true")
	c = mustLoad(t, "")
	if !slices.Equal(c.WebhookRetrySchedule, []time.Duration{100 * time.Millisecond, time.Second}) || !c.WebhookAllowPrivate {
		t.Fatalf("webhook settings = %v %v", c.WebhookRetrySchedule, c.WebhookAllowPrivate)
	}
}

func TestLoad_bad_webhook_settings_are_refused(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"WEBHOOK_RETRY_SCHEDULE", "30s,0s", "WEBHOOK_RETRY_SCHEDULE must list durations above 0s"},
		{"WEBHOOK_RETRY_SCHEDULE", "30s,-1m", "WEBHOOK_RETRY_SCHEDULE must list durations above 0s"},
		{"WEBHOOK_RETRY_SCHEDULE", "30s,,1m", "WEBHOOK_RETRY_SCHEDULE must list durations above 0s"},
		{"WEBHOOK_RETRY_SCHEDULE", "30", "WEBHOOK_RETRY_SCHEDULE must list durations above 0s"},
		{"WEBHOOK_RETRY_SCHEDULE", strings.Repeat("1s,", 20) + "1s", "WEBHOOK_RETRY_SCHEDULE must list 1 to 20 durations, got 21"},
		{"WEBHOOK_TIMEOUT", "0s", "WEBHOOK_TIMEOUT must be between"},
		{"WEBHOOK_DISABLE_AFTER", "0", "WEBHOOK_DISABLE_AFTER must be a whole number from 1"},
		{"WEBHOOK_ALLOW_PRIVATE", "maybe", "WEBHOOK_ALLOW_PRIVATE must be true or false"},
	} {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			isolate(t)
			t.Setenv("DATABASE_URL", testDB)
			t.Setenv(c.key, c.value)
			_, err := config.Load("")
			if ps := problems(t, err); len(ps) != 1 || !strings.Contains(ps[0], c.want) {
				t.Fatalf("problems = %q, want one containing %q", ps, c.want)
			}
		})
	}
}

func TestLoad_production_refuses_webhooks_to_private_addresses(t *testing.T) {
	isolate(t)
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("SECRET_KEY", strongKey)
	t.Setenv("APP_ENV", "production")
	t.Setenv("WEBHOOK_ALLOW_PRIVATE", "true")
	_, err := config.Load("")
	if ps := problems(t, err); len(ps) != 1 || !strings.Contains(ps[0], "WEBHOOK_ALLOW_PRIVATE") ||
		!strings.Contains(ps[0], "APP_ENV=production") {
		t.Fatalf("problems = %q", ps)
	}
	t.Setenv("WEBHOOK_ALLOW_PRIVATE", "false")
	mustLoad(t, "")
}
