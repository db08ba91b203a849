// Package config holds TaskFlow's typed configuration: one Config struct,
// loaded once at start-up from defaults, an optional config file, a .env
// file and the environment (viper), and validated before anything starts.
//
// It may import viper and the standard library. Nothing in the core
// (domain, ports, application) imports config: bootstrap reads a Config
// and hands plain values (a secret, a TTL, a cost) to the constructors.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Environments.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
	EnvTest        = "test"
)

// MinSecretKeyBytes is the shortest SECRET_KEY accepted anywhere: HS256
// keys shorter than the hash output (32 bytes) weaken the signature.
const MinSecretKeyBytes = 32

// Config is the whole configuration of the service.
type Config struct {
	Env      string // APP_ENV: development, production or test
	HTTPAddr string // HTTP_ADDR
	// AdminAddr is ADMIN_ADDR: the listener for /metrics and /debug/pprof/,
	// never the public one; empty turns it off.
	AdminAddr string
	// DatabaseURL is DATABASE_URL: empty for the embedded SQLite store in
	// DataDir, sqlite:PATH for a SQLite file of one's choice, or a
	// postgres:// or postgresql:// URL. Store tells which.
	DatabaseURL string
	// MigrationDatabaseURL is MIGRATION_DATABASE_URL: the Postgres URL the
	// migrations run with, as the role that owns the schema; empty: the
	// DATABASE_URL. Store().MigrationURL tells which applies.
	MigrationDatabaseURL string
	// NotifyDatabaseURL is NOTIFY_DATABASE_URL: the Postgres URL the live
	// feed's LISTEN connection uses when the replicas share no Redis;
	// empty: the DATABASE_URL. Behind a pooler (PgBouncer), which cannot
	// carry LISTEN (the listener finds one out and does not listen), it
	// names Postgres directly.
	NotifyDatabaseURL string
	DataDir           string // DATA_DIR: where the embedded SQLite store lives
	SecretKey         string // SECRET_KEY: the JWT signing key, at least 32 bytes
	// SecretKeyGenerated says SECRET_KEY was missing outside production and
	// a random one was made: tokens do not survive a restart and replicas
	// reject each other's. The caller should log a warning.
	SecretKeyGenerated bool
	CacheBackend       string        // CACHE_BACKEND: memory or redis
	RedisURL           string        // REDIS_URL
	RedisCluster       bool          // REDIS_CLUSTER: REDIS_URL names a cluster, redis://host1:port?addr=host2:port
	CacheTTL           time.Duration // CACHE_TTL
	JWTTTL             time.Duration // JWT_TTL
	BcryptCost         int           // BCRYPT_COST
	LogLevel           string        // LOG_LEVEL: debug, info, warn or error
	LogFormat          string        // LOG_FORMAT: json or text
	BodyLimit          int           // BODY_LIMIT, bytes
	RequestTimeout     time.Duration // REQUEST_TIMEOUT
	ShutdownTimeout    time.Duration // SHUTDOWN_TIMEOUT
	InviteTTL          time.Duration // INVITE_TTL
	DBMaxOpenConns     int           // DB_MAX_OPEN_CONNS: Postgres pool; SQLite readers
	MigrateOnStart     bool          // MIGRATE_ON_START
	// SecretKeyPrevious is the key being rotated out: tokens it signed are
	// still accepted until they expire. Empty outside a rotation.
	SecretKeyPrevious string        // SECRET_KEY_PREVIOUS
	RefreshTTL        time.Duration // REFRESH_TTL: refresh token lifetime
	AuthPerMinute     int           // RATE_LIMIT_AUTH_PER_MINUTE; 0 turns it off
	OrgPerMinute      int           // RATE_LIMIT_ORG_PER_MINUTE; 0 turns it off
	CORSOrigins       []string      // CORS_ORIGINS: comma-separated; none by default
	// StartupTimeout is STARTUP_TIMEOUT: how long start-up retries the
	// database and Redis before giving up; 0 tries once.
	StartupTimeout time.Duration
	// ShutdownDrain is SHUTDOWN_DRAIN: how long a stopping replica keeps
	// serving, with /ready at 503 and Connection: close on every answer,
	// before it stops accepting.
	ShutdownDrain time.Duration
	// EventRetention is EVENT_RETENTION: how long events are kept before
	// the retention job purges them.
	EventRetention time.Duration
	// WebhookTimeout is WEBHOOK_TIMEOUT: how long one delivery attempt may
	// take.
	WebhookTimeout time.Duration
	// WebhookDisableAfter is WEBHOOK_DISABLE_AFTER: how many events in a
	// row may exhaust their attempts before the hook is disabled.
	WebhookDisableAfter int
	// WebhookRetrySchedule is WEBHOOK_RETRY_SCHEDULE: the delays before
	// each retry of an event, 1 to 20 of them.
	WebhookRetrySchedule []time.Duration
	// WebhookAllowPrivate is WEBHOOK_ALLOW_PRIVATE: hooks may use http://
	// and reach loopback and private addresses (development and tests;
	// refused with APP_ENV=production).
	WebhookAllowPrivate bool
	// StreamMaxPerOrg is STREAM_MAX_PER_ORG: an organization's open event
	// streams, across the replicas that share Redis (per replica without).
	StreamMaxPerOrg int
	// CacheMemoryMaxBytes is CACHE_MEMORY_MAX_BYTES: what the in-process
	// list cache of CACHE_BACKEND=memory may hold, its keys, values and
	// maps' own cost counted.
	CacheMemoryMaxBytes int
}

// defaults lists every key with its default, as text parsed like any
// other source. Every key gets a viper default (viper issue 761: keys
// without one are invisible to AutomaticEnv in Unmarshal and AllKeys).
// The names are the environment variables; config files use the same
// names, in any case.
var defaults = map[string]string{
	"APP_ENV":                    EnvDevelopment,
	"HTTP_ADDR":                  ":8000",
	"ADMIN_ADDR":                 "127.0.0.1:9090",
	"DATABASE_URL":               "",
	"MIGRATION_DATABASE_URL":     "",
	"NOTIFY_DATABASE_URL":        "",
	"DATA_DIR":                   "./data",
	"SECRET_KEY":                 "",
	"CACHE_BACKEND":              "memory",
	"REDIS_URL":                  "redis://localhost:6379/0",
	"REDIS_CLUSTER":              "false",
	"CACHE_TTL":                  "60s",
	"CACHE_MEMORY_MAX_BYTES":     "16777216", // 16 MiB: a few thousand list pages
	"JWT_TTL":                    "30m",
	"BCRYPT_COST":                "12",
	"LOG_LEVEL":                  "info",
	"LOG_FORMAT":                 "json",
	"BODY_LIMIT":                 "1048576",
	"REQUEST_TIMEOUT":            "10s",
	"SHUTDOWN_TIMEOUT":           "15s",
	"INVITE_TTL":                 "168h",
	"DB_MAX_OPEN_CONNS":          "20",
	"MIGRATE_ON_START":           "true",
	"SECRET_KEY_PREVIOUS":        "",
	"REFRESH_TTL":                "720h",
	"RATE_LIMIT_AUTH_PER_MINUTE": "10",
	"RATE_LIMIT_ORG_PER_MINUTE":  "12000",
	"CORS_ORIGINS":               "",
	"STARTUP_TIMEOUT":            "60s",
	// Empty: 5s with APP_ENV=production, else 0s (see shutdownDrain).
	"SHUTDOWN_DRAIN": "",
	// 30 days.
	"EVENT_RETENTION":        "720h",
	"WEBHOOK_TIMEOUT":        "10s",
	"WEBHOOK_DISABLE_AFTER":  "20",
	"WEBHOOK_RETRY_SCHEDULE": "30s,2m,10m,1h,4h,12h",
	"WEBHOOK_ALLOW_PRIVATE":  "false",
	"STREAM_MAX_PER_ORG":     "100",
}

// Keys returns the names of all configuration keys, sorted.
func Keys() []string { return slices.Sorted(maps.Keys(defaults)) }

// ValidationError lists every configuration problem found, each with what
// to do about it, so that one failed start shows them all.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Load reads the configuration. Sources, lowest precedence first: the
// defaults; the config file (configFile, or else the CONFIG_FILE
// environment variable; .yaml, .yml, .json or .toml; naming a file that
// does not exist is an error); a .env file in the working directory, if
// there is one; the environment. An environment variable set to the empty
// string counts as unset, except ADMIN_ADDR, which empty turns off (as it
// does in a file). Unknown keys in the config file are errors (a
// typo must not silently fall back to a default); unknown keys in .env
// are ignored, since that file is often shared with docker compose.
func Load(configFile string) (*Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(strings.ToLower(k), d)
	}
	var problems []string

	// The file and .env layers are merged here, as strings, so that one
	// MergeConfigMap call puts them between the defaults and the
	// environment in viper's precedence order.
	layered := map[string]any{}
	if configFile == "" {
		configFile = os.Getenv("CONFIG_FILE")
	}
	if configFile != "" {
		values, unknown, err := readConfigFile(configFile)
		if err != nil {
			return nil, err
		}
		for _, k := range unknown {
			problems = append(problems, fmt.Sprintf("config file %s: unknown key %q (known keys: %s)",
				configFile, k, strings.Join(Keys(), ", ")))
		}
		maps.Copy(layered, values)
	}
	dotenv, err := readDotEnv(".env")
	if err != nil {
		return nil, err
	}
	for k, val := range dotenv {
		if _, known := defaults[strings.ToUpper(k)]; known {
			layered[strings.ToLower(k)] = val
		}
	}
	if err := v.MergeConfigMap(layered); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	v.AutomaticEnv()
	// Set but empty: no admin listener (viper would take it for unset).
	if val, ok := os.LookupEnv("ADMIN_ADDR"); ok && strings.TrimSpace(val) == "" {
		v.Set("admin_addr", "")
	}

	p := &parser{get: func(key string) string { return strings.TrimSpace(v.GetString(strings.ToLower(key))) }}
	p.problems = problems
	c := p.parse()
	if len(p.problems) > 0 {
		return nil, &ValidationError{Problems: p.problems}
	}
	return c, nil
}

// parser turns raw text into typed values, collecting every problem.
type parser struct {
	get      func(key string) string
	problems []string
}

func (p *parser) problem(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

func (p *parser) parse() *Config {
	c := &Config{
		Env:             p.oneOf("APP_ENV", EnvDevelopment, EnvProduction, EnvTest),
		HTTPAddr:        p.addr("HTTP_ADDR"),
		AdminAddr:       p.adminAddr("ADMIN_ADDR", "HTTP_ADDR"),
		DatabaseURL:     p.databaseURL("DATABASE_URL", "DATA_DIR"),
		DataDir:         p.get("DATA_DIR"),
		CacheBackend:    p.oneOf("CACHE_BACKEND", "memory", "redis"),
		CacheTTL:        p.duration("CACHE_TTL", time.Second, 24*time.Hour),
		JWTTTL:          p.duration("JWT_TTL", time.Minute, 24*time.Hour),
		BcryptCost:      p.integer("BCRYPT_COST", 10, 14),
		LogLevel:        p.oneOf("LOG_LEVEL", "debug", "info", "warn", "error"),
		LogFormat:       p.oneOf("LOG_FORMAT", "json", "text"),
		BodyLimit:       p.integer("BODY_LIMIT", 1<<10, 64<<20),
		RequestTimeout:  p.duration("REQUEST_TIMEOUT", time.Millisecond, time.Hour),
		ShutdownTimeout: p.duration("SHUTDOWN_TIMEOUT", time.Millisecond, time.Hour),
		InviteTTL:       p.duration("INVITE_TTL", time.Minute, 365*24*time.Hour),
		DBMaxOpenConns:  p.integer("DB_MAX_OPEN_CONNS", 1, 10000),
		MigrateOnStart:  p.boolean("MIGRATE_ON_START"),
		EventRetention:  p.duration("EVENT_RETENTION", time.Hour, 10*365*24*time.Hour),
	}
	c.MigrationDatabaseURL = p.postgresURL("MIGRATION_DATABASE_URL", "DATABASE_URL", c.DatabaseURL,
		"naming the role that owns the schema, e.g. postgres://taskflow_owner:secret@db:5432/taskflow?sslmode=disable")
	c.NotifyDatabaseURL = p.postgresURL("NOTIFY_DATABASE_URL", "DATABASE_URL", c.DatabaseURL,
		"reaching Postgres without a pooler in transaction mode, e.g. postgres://taskflow:secret@db:5432/taskflow?sslmode=disable")
	c.RedisURL = p.get("REDIS_URL")
	c.RedisCluster = p.boolean("REDIS_CLUSTER")
	if c.CacheBackend == "redis" {
		if c.RedisCluster {
			c.RedisURL = p.redisClusterURL("REDIS_URL")
		} else {
			c.RedisURL = p.redisURL("REDIS_URL")
		}
	}
	c.SecretKey, c.SecretKeyGenerated = p.secretKey("SECRET_KEY", c.Env == EnvProduction)
	if prev := p.get("SECRET_KEY_PREVIOUS"); prev != "" {
		if len(prev) < MinSecretKeyBytes {
			p.problem("SECRET_KEY_PREVIOUS must be at least %d bytes, got %d (it is the key being rotated out)", MinSecretKeyBytes, len(prev))
		} else if prev == c.SecretKey {
			p.problem("SECRET_KEY_PREVIOUS must differ from SECRET_KEY")
		}
		c.SecretKeyPrevious = prev
	}
	c.RefreshTTL = p.duration("REFRESH_TTL", time.Minute, 365*24*time.Hour)
	c.AuthPerMinute = p.integer("RATE_LIMIT_AUTH_PER_MINUTE", 0, 1_000_000)
	c.OrgPerMinute = p.integer("RATE_LIMIT_ORG_PER_MINUTE", 0, 100_000_000)
	c.CORSOrigins = p.origins("CORS_ORIGINS")
	c.StartupTimeout = p.duration("STARTUP_TIMEOUT", 0, time.Hour)
	c.ShutdownDrain = p.shutdownDrain("SHUTDOWN_DRAIN", c.Env == EnvProduction)
	c.WebhookTimeout = p.duration("WEBHOOK_TIMEOUT", 100*time.Millisecond, 5*time.Minute)
	c.WebhookDisableAfter = p.integer("WEBHOOK_DISABLE_AFTER", 1, 10000)
	c.WebhookRetrySchedule = p.durations("WEBHOOK_RETRY_SCHEDULE", 1, 20, 7*24*time.Hour)
	c.WebhookAllowPrivate = p.boolean("WEBHOOK_ALLOW_PRIVATE")
	if c.WebhookAllowPrivate && c.Env == EnvProduction {
		p.problem("WEBHOOK_ALLOW_PRIVATE=true lets webhooks reach loopback and private addresses and use http://; it is for development and tests only and is refused with APP_ENV=production")
	}
	c.StreamMaxPerOrg = p.integer("STREAM_MAX_PER_ORG", 1, 100_000)
	// From 64 KiB, below which a few pages would fill it, to 1 GiB: a
	// process that needs more should share Redis.
	c.CacheMemoryMaxBytes = p.integer("CACHE_MEMORY_MAX_BYTES", 64<<10, 1<<30)
	return c
}

// durations parses a comma-separated list of min to max durations, each
// above zero and at most most.
func (p *parser) durations(key string, min, max int, most time.Duration) []time.Duration {
	raw := p.get(key)
	var out []time.Duration
	for _, part := range strings.Split(raw, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 || d > most {
			p.problem("%s must list durations above 0s and at most %s, separated by commas, such as %q; got %q",
				key, fmtDuration(most), "30s,2m,10m", raw)
			return nil
		}
		out = append(out, d)
	}
	if len(out) < min || len(out) > max {
		p.problem("%s must list %d to %d durations, got %d", key, min, max, len(out))
		return nil
	}
	return out
}

// shutdownDrain defaults to 5s in production, where a load balancer needs
// a few health-check intervals to see /ready fail and move the traffic
// away, and to 0s elsewhere, where nothing is balanced and Ctrl-C should
// stop at once.
func (p *parser) shutdownDrain(key string, production bool) time.Duration {
	if p.get(key) == "" {
		if production {
			return 5 * time.Second
		}
		return 0
	}
	return p.duration(key, 0, 10*time.Minute)
}

// origins parses a comma-separated list of exact origins
// (scheme://host[:port]); "*" is refused: credentials travel in headers
// and a wildcard would let any site read the API's answers.
func (p *parser) origins(key string) []string {
	raw := p.get(key)
	if raw == "" {
		return nil
	}
	var out []string
	for _, o := range strings.Split(raw, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			p.problem("%s must list origins such as https://app.example.com, separated by commas; %q is not one", key, o)
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out
}

func (p *parser) oneOf(key string, allowed ...string) string {
	raw := p.get(key)
	v := strings.ToLower(raw)
	if slices.Contains(allowed, v) {
		return v
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	if len(quoted) == 2 {
		p.problem("%s must be %s or %s, got %q", key, quoted[0], quoted[1], raw)
	} else {
		p.problem("%s must be one of %s, got %q", key, strings.Join(quoted, ", "), raw)
	}
	return ""
}

func (p *parser) duration(key string, min, max time.Duration) time.Duration {
	raw := p.get(key)
	d, err := time.ParseDuration(raw)
	if err != nil {
		p.problem("%s must be a duration with a unit, such as %q or %q, got %q", key, "60s", "30m", raw)
		return 0
	}
	if d < min || d > max {
		p.problem("%s must be between %s and %s, got %q", key, fmtDuration(min), fmtDuration(max), raw)
		return 0
	}
	return d
}

func (p *parser) integer(key string, min, max int) int {
	raw := p.get(key)
	n, err := strconv.Atoi(raw)
	if err != nil || n < min || n > max {
		p.problem("%s must be a whole number from %d to %d, got %q", key, min, max, raw)
		return 0
	}
	return n
}

func (p *parser) boolean(key string) bool {
	raw := p.get(key)
	b, err := strconv.ParseBool(raw)
	if err != nil {
		p.problem("%s must be true or false, got %q", key, raw)
	}
	return b
}

func (p *parser) addr(key string) string {
	raw := p.get(key)
	_, port, err := net.SplitHostPort(raw)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr == nil && n >= 0 && n <= 65535 {
			return raw
		}
	}
	p.problem("%s must be host:port or :port, such as %q or %q, got %q", key, ":8000", "127.0.0.1:8000", raw)
	return ""
}

// adminAddr is addr, or empty (no admin listener). It may not be the
// public listener's address: metrics and profiles are for operators.
func (p *parser) adminAddr(key, publicKey string) string {
	raw := p.get(key)
	if raw == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(raw)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		p.problem("%s must be host:port or :port, such as %q, or empty to turn the admin listener off, got %q", key, "127.0.0.1:9090", raw)
		return ""
	}
	if port != "0" && raw == p.get(publicKey) {
		p.problem("%s must differ from %s (%q): metrics and profiles are never served on the public listener", key, publicKey, raw)
		return ""
	}
	return raw
}

const exampleDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func (p *parser) databaseURL(key, dirKey string) string {
	raw := p.get(key)
	if _, err := parseStore(raw, p.get(dirKey)); err != nil {
		p.problem("%v", err)
		return ""
	}
	return raw
}

// postgresURL accepts a Postgres URL (what says which and gives an
// example), and only beside a Postgres DATABASE_URL: SQLite has one file
// and no roles.
func (p *parser) postgresURL(key, dbKey, databaseURL, what string) string {
	raw := p.get(key)
	if raw == "" {
		return ""
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.problem("%s must be a URL starting with postgres:// or postgresql://, %s; got %s",
			key, what, describeURL(u, err))
		return ""
	}
	if st, err := parseStore(databaseURL, "-"); err == nil && st.Kind != StorePostgres {
		p.problem("%s applies to Postgres only: set %s to a postgres:// URL too, or unset %s", key, dbKey, key)
		return ""
	}
	return raw
}

// Store kinds, as Config.Store reports them.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// SQLiteFile is the embedded store's file name in DATA_DIR.
const SQLiteFile = "taskflow.db"

// Store is the database the service keeps its data in.
type Store struct {
	Kind string // StoreSQLite or StorePostgres
	Path string // the SQLite database file, when Kind is StoreSQLite
	URL  string // the connection URL, when Kind is StorePostgres
	// MigrationURL is the URL migrations run with, when Kind is
	// StorePostgres: MIGRATION_DATABASE_URL, or URL when that is empty.
	MigrationURL string
}

// Store returns the database DATABASE_URL and DATA_DIR select: with no
// DATABASE_URL, the SQLite file DATA_DIR/taskflow.db; with a sqlite: URL,
// the SQLite file it names; with a postgres:// or postgresql:// URL, that
// Postgres server. Load has checked both values; an error means a Config
// assembled by hand with a bad one.
func (c *Config) Store() (Store, error) {
	st, err := parseStore(c.DatabaseURL, c.DataDir)
	if err == nil && st.Kind == StorePostgres {
		st.MigrationURL = st.URL
		if c.MigrationDatabaseURL != "" {
			st.MigrationURL = c.MigrationDatabaseURL
		}
	}
	return st, err
}

// parseStore's errors name the variables and say what to write instead,
// without echoing a URL that may hold a password.
func parseStore(databaseURL, dataDir string) (Store, error) {
	if databaseURL == "" {
		if dataDir == "" {
			return Store{}, errors.New("DATA_DIR must name a directory for the embedded SQLite store when DATABASE_URL is empty, e.g. DATA_DIR=./data")
		}
		return Store{Kind: StoreSQLite, Path: filepath.Join(dataDir, SQLiteFile)}, nil
	}
	u, err := url.Parse(databaseURL)
	switch {
	case err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql"):
		return Store{Kind: StorePostgres, URL: databaseURL}, nil
	case err == nil && u.Scheme == "sqlite":
		path, err := sqlitePath(u)
		if err != nil {
			return Store{}, fmt.Errorf("DATABASE_URL %s: %w", RedactURL(databaseURL), err)
		}
		return Store{Kind: StoreSQLite, Path: path}, nil
	}
	return Store{}, fmt.Errorf("DATABASE_URL must be empty (the embedded SQLite store in DATA_DIR), "+
		"a sqlite: URL such as sqlite:data/taskflow.db or sqlite:///var/lib/taskflow/taskflow.db, "+
		"or a URL starting with postgres:// or postgresql://, e.g. %s; got %s",
		exampleDatabaseURL, describeURL(u, err))
}

// sqlitePath returns the file a sqlite: URL names: sqlite:relative/file.db
// (relative to the working directory) or sqlite:///absolute/file.db.
func sqlitePath(u *url.URL) (string, error) {
	const want = "want sqlite:relative/file.db or sqlite:///absolute/file.db"
	path := u.Path
	if u.Opaque != "" {
		p, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return "", fmt.Errorf("%w; %s", err, want)
		}
		path = p
	}
	switch {
	case u.Host != "":
		return "", fmt.Errorf("names a host; %s", want)
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("takes no options: the store sets its own (WAL, busy timeout, foreign keys)")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return "", fmt.Errorf("in-memory and file: URI databases are not supported (the data must survive a restart); %s", want)
	case path == "" || strings.HasSuffix(path, "/"):
		return "", fmt.Errorf("names no file; %s", want)
	}
	return filepath.Clean(path), nil
}

func (p *parser) redisURL(key string) string {
	raw := p.get(key)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		p.problem("%s must be a URL starting with redis://, rediss:// or unix:// when CACHE_BACKEND is \"redis\", e.g. %s, got %s",
			key, defaults[key], describeURL(u, err))
		return ""
	}
	return raw
}

// redisClusterURL checks a cluster URL in go-redis's form
// (redis.ParseClusterURL): redis:// or rediss://, one node in the host
// and any others as addr parameters, and no database but 0, the only
// one a cluster has.
func (p *parser) redisClusterURL(key string) string {
	raw := p.get(key)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		p.problem("%s must be a URL starting with redis:// or rediss:// when REDIS_CLUSTER is true, e.g. %s, got %s",
			key, "redis://node1:6379?addr=node2:6379&addr=node3:6379", describeURL(u, err))
		return ""
	}
	if u.Host == "" {
		p.problem("%s must name a cluster node in its host when REDIS_CLUSTER is true, e.g. redis://node1:6379?addr=node2:6379", key)
		return ""
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		p.problem("%s must not name a database when REDIS_CLUSTER is true: a Redis Cluster has only database 0, got /%s", key, db)
		return ""
	}
	for _, a := range u.Query()["addr"] {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.problem("%s: each addr parameter must be host:port, got %q", key, a)
			return ""
		}
	}
	return raw
}

// describeURL names what was wrong with a URL without echoing it: a
// connection string in another syntax may carry a password anywhere.
func describeURL(u *url.URL, err error) string {
	switch {
	case err != nil:
		return "a value that is not a URL"
	case u.Scheme == "":
		return "a value with no scheme"
	default:
		return fmt.Sprintf("scheme %q", u.Scheme)
	}
}

const secretHint = `generate one with "openssl rand -base64 48"`

// secretKey refuses a key under 32 bytes everywhere, and in production a
// missing key or a well-known placeholder. Only a missing key outside
// production is replaced, by a random one: a short or placeholder key was
// set on purpose and deserves an error, not a silent substitute.
func (p *parser) secretKey(key string, production bool) (secret string, generated bool) {
	raw := p.get(key)
	switch {
	case raw == "" && production:
		p.problem("%s is required when APP_ENV is production: set it to at least %d random bytes; %s",
			key, MinSecretKeyBytes, secretHint)
	case raw == "":
		var b [MinSecretKeyBytes]byte
		if _, err := rand.Read(b[:]); err != nil {
			p.problem("%s is not set and a random one could not be generated: %v", key, err)
			return "", false
		}
		return base64.RawURLEncoding.EncodeToString(b[:]), true
	case production && weakSecret(raw):
		p.problem("%s is a well-known placeholder or has too little variety; in production set it to at least %d random bytes; %s",
			key, MinSecretKeyBytes, secretHint)
	case len(raw) < MinSecretKeyBytes:
		p.problem("%s must be at least %d bytes, got %d; %s", key, MinSecretKeyBytes, len(raw), secretHint)
	default:
		return raw, false
	}
	return "", false
}

// placeholders are fragments of the sample keys found in READMEs and
// .env.example files, compared after lower-casing and dropping separators.
var placeholders = []string{
	"changeme", "changethis", "replaceme", "yoursecret", "secretkeyhere", "mysecret",
	"supersecret", "insecure", "example", "placeholder", "notsecret", "default",
}

var weakExact = []string{"secret", "password", "taskflow", "development", "test", "key", "jwt", "jwtsecret", "secretkey"}

func weakSecret(s string) bool {
	norm := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == ' ' || r == '.' {
			return -1
		}
		return r
	}, strings.ToLower(s))
	if slices.Contains(weakExact, norm) {
		return true
	}
	for _, ph := range placeholders {
		if strings.Contains(norm, ph) {
			return true
		}
	}
	// "aaaa..." or "abababab...": long but guessable. Random keys of 32+
	// characters, even hex ones, use far more than 8 distinct bytes.
	distinct := map[byte]bool{}
	for i := range len(s) {
		distinct[s[i]] = true
	}
	return len(distinct) < 8
}

// readConfigFile returns the file's known keys as text, and its unknown
// keys, sorted.
func readConfigFile(path string) (values map[string]any, unknown []string, err error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json", ".toml":
	default:
		return nil, nil, fmt.Errorf("config file %s: unsupported extension, use .yaml, .yml, .json or .toml", path)
	}
	fv := viper.New()
	fv.SetConfigFile(path)
	if err := fv.ReadInConfig(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("config file %s does not exist (named by the command line or CONFIG_FILE)", path)
		}
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	values = map[string]any{}
	for _, k := range fv.AllKeys() {
		if _, known := defaults[strings.ToUpper(k)]; !known {
			unknown = append(unknown, k)
			continue
		}
		values[k] = scalarText(fv.Get(k))
	}
	slices.Sort(unknown)
	return values, unknown, nil
}

// scalarText renders a decoded file value as the text an environment
// variable would hold, so that every source goes through one parser.
// JSON numbers arrive as float64; 1048576 must not become "1.048576e+06".
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case time.Duration:
		return x.String()
	case bool, int, int64, int32, uint, uint64, uint32:
		return fmt.Sprint(x)
	default:
		// A list or a table: no key takes one, and the parser will
		// report the key with this text.
		return fmt.Sprintf("%v", x)
	}
}

// RedactURL hides a URL's password (in the user info or as a password
// query parameter), for logs and error messages.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Redacted returns the configuration keyed by environment variable, safe
// to log: SECRET_KEY is never shown and URL passwords are masked.
func (c *Config) Redacted() map[string]any {
	secret := "[redacted]"
	switch {
	case c.SecretKeyGenerated:
		secret = "[generated at start-up]" //nolint:gosec // G101: a label shown instead of the secret
	case c.SecretKey == "":
		secret = "[not set]"
	}
	return map[string]any{
		"APP_ENV":                    c.Env,
		"HTTP_ADDR":                  c.HTTPAddr,
		"ADMIN_ADDR":                 c.AdminAddr,
		"DATABASE_URL":               RedactURL(c.DatabaseURL),
		"MIGRATION_DATABASE_URL":     RedactURL(c.MigrationDatabaseURL),
		"NOTIFY_DATABASE_URL":        RedactURL(c.NotifyDatabaseURL),
		"DATA_DIR":                   c.DataDir,
		"SECRET_KEY":                 secret,
		"CACHE_BACKEND":              c.CacheBackend,
		"REDIS_URL":                  RedactURL(c.RedisURL),
		"REDIS_CLUSTER":              c.RedisCluster,
		"CACHE_TTL":                  c.CacheTTL.String(),
		"CACHE_MEMORY_MAX_BYTES":     c.CacheMemoryMaxBytes,
		"JWT_TTL":                    c.JWTTTL.String(),
		"BCRYPT_COST":                c.BcryptCost,
		"LOG_LEVEL":                  c.LogLevel,
		"LOG_FORMAT":                 c.LogFormat,
		"BODY_LIMIT":                 c.BodyLimit,
		"REQUEST_TIMEOUT":            c.RequestTimeout.String(),
		"SHUTDOWN_TIMEOUT":           c.ShutdownTimeout.String(),
		"INVITE_TTL":                 c.InviteTTL.String(),
		"DB_MAX_OPEN_CONNS":          c.DBMaxOpenConns,
		"MIGRATE_ON_START":           c.MigrateOnStart,
		"SECRET_KEY_PREVIOUS":        map[bool]string{true: "[redacted]", false: "[not set]"}[c.SecretKeyPrevious != ""],
		"REFRESH_TTL":                fmtDuration(c.RefreshTTL),
		"RATE_LIMIT_AUTH_PER_MINUTE": c.AuthPerMinute,
		"RATE_LIMIT_ORG_PER_MINUTE":  c.OrgPerMinute,
		"CORS_ORIGINS":               strings.Join(c.CORSOrigins, ","),
		"STARTUP_TIMEOUT":            fmtDuration(c.StartupTimeout),
		"SHUTDOWN_DRAIN":             fmtDuration(c.ShutdownDrain),
		"EVENT_RETENTION":            fmtDuration(c.EventRetention),
		"WEBHOOK_TIMEOUT":            fmtDuration(c.WebhookTimeout),
		"WEBHOOK_DISABLE_AFTER":      c.WebhookDisableAfter,
		"WEBHOOK_RETRY_SCHEDULE":     fmtDurations(c.WebhookRetrySchedule),
		"WEBHOOK_ALLOW_PRIVATE":      c.WebhookAllowPrivate,
		"STREAM_MAX_PER_ORG":         c.StreamMaxPerOrg,
	}
}

func fmtDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmtDuration(d)
	}
	return strings.Join(parts, ",")
}

// LogValue makes slog print the redacted form, so logging a *Config can
// never leak the secret.
func (c *Config) LogValue() slog.Value {
	r := c.Redacted()
	attrs := make([]slog.Attr, 0, len(r))
	for _, k := range slices.Sorted(maps.Keys(r)) {
		attrs = append(attrs, slog.Any(k, r[k]))
	}
	return slog.GroupValue(attrs...)
}

// String is the redacted form too, for fmt's %v and %s.
func (c *Config) String() string {
	r := c.Redacted()
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(r)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, r[k])
	}
	return b.String()
}

// fmtDuration drops zero trailing units: 24h rather than 24h0m0s.
func fmtDuration(d time.Duration) string {
	// Only a zero after a larger unit goes: 30s must stay 30s.
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
