package main_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

// composeService is what the compose tests read of a service.
type composeService struct {
	Profiles    []string          `yaml:"profiles"`
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Restart     string            `yaml:"restart"`
	Deploy      struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// TestCompose_ScaleProfile checks docker-compose.yml's scale profile
// (several app replicas behind nginx, sharing the Redis cache) and
// docker/nginx-scale.conf, as far as they can be checked without Docker
// or nginx: the replicas' environment is the app's but for the shared
// cache and the shared SECRET_KEY, the proxy sends to them on the port
// they listen on, and three binaries started with exactly that
// environment, behind a round-robin proxy of the test's own, serve the
// walk-through with each request on the next replica.
func TestCompose_ScaleProfile(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	app, scale, proxy := compose.Services["app"], compose.Services["app-scale"], compose.Services["proxy"]
	if !slices.Equal(scale.Profiles, []string{"scale"}) || !slices.Equal(proxy.Profiles, []string{"scale"}) {
		t.Fatalf("app-scale profiles %q, proxy profiles %q; want both [scale]", scale.Profiles, proxy.Profiles)
	}
	// The default profile stays as it was: only the scale services and
	// the observability profile's (deploy/deploy_test.go) have a profile.
	for name, svc := range compose.Services {
		other := slices.Equal(svc.Profiles, []string{"observability"})
		if name != "app-scale" && name != "proxy" && len(svc.Profiles) != 0 && !other {
			t.Errorf("service %s has profiles %q; the default services have none", name, svc.Profiles)
		}
	}

	// The replicas.
	if scale.Deploy.Replicas < 2 {
		t.Errorf("app-scale deploy.replicas = %d, want several", scale.Deploy.Replicas)
	}
	if scale.Build != app.Build || scale.Restart != app.Restart || !slices.Equal(scale.Healthcheck.Test, app.Healthcheck.Test) {
		t.Errorf("app-scale build %q, restart %q, health check %q; want the app's (%q, %q, %q)",
			scale.Build, scale.Restart, scale.Healthcheck.Test, app.Build, app.Restart, app.Healthcheck.Test)
	}
	if len(scale.Ports) != 0 {
		t.Errorf("app-scale publishes %q: replicas cannot share a host port, the proxy is their way in", scale.Ports)
	}
	for _, dep := range []string{"postgres", "redis"} {
		if c := scale.DependsOn[dep].Condition; c != "service_healthy" {
			t.Errorf("app-scale depends_on %s with condition %q, want service_healthy", dep, c)
		}
	}
	// Their environment is the app's, but for what replicas must share.
	for k, v := range app.Environment {
		got, ok := scale.Environment[k]
		switch {
		case !ok:
			t.Errorf("app-scale has no %s (the app has %q)", k, v)
		case k == "CACHE_BACKEND":
			if got != "redis" {
				t.Errorf("app-scale CACHE_BACKEND = %q, want redis: the replicas share lists, session checks and rate limits", got)
			}
		case k == "SECRET_KEY":
			if key := substitute(got, nil); len(key) < 32 {
				t.Errorf("app-scale SECRET_KEY defaults to %q: the replicas need one key, of 32 bytes or more, or each rejects the others' tokens", key)
			}
		case got != v:
			t.Errorf("app-scale %s = %q, the app's is %q", k, got, v)
		}
	}
	for k := range scale.Environment {
		if _, ok := app.Environment[k]; !ok {
			t.Errorf("app-scale sets %s, which the app does not", k)
		}
	}
	_, appPort, err := net.SplitHostPort(scale.Environment["HTTP_ADDR"])
	if err != nil {
		t.Fatalf("app-scale HTTP_ADDR %q: %v", scale.Environment["HTTP_ADDR"], err)
	}

	// The proxy.
	if !strings.HasPrefix(proxy.Image, "nginx:") {
		t.Errorf("proxy image %q, want nginx", proxy.Image)
	}
	if c := proxy.DependsOn["app-scale"].Condition; c != "service_healthy" {
		t.Errorf("proxy depends_on app-scale with condition %q, want service_healthy", c)
	}
	if len(proxy.Healthcheck.Test) == 0 {
		t.Error("proxy has no health check")
	}
	const conf = "docker/nginx-scale.conf"
	mounted := false
	for _, v := range proxy.Volumes {
		mounted = mounted || strings.HasPrefix(v, "./"+conf+":/etc/nginx/conf.d/")
	}
	if !mounted {
		t.Fatalf("proxy does not mount %s into /etc/nginx/conf.d/: %q", conf, proxy.Volumes)
	}
	var containerPorts []string
	for _, p := range proxy.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("proxy publishes %q, want on 127.0.0.1 only", p)
		}
		containerPorts = append(containerPorts, p[strings.LastIndex(p, ":")+1:])
	}
	if len(containerPorts) == 0 {
		t.Fatal("proxy publishes no port")
	}
	text, err := os.ReadFile("../../" + conf)
	if err != nil {
		t.Fatal(err)
	}
	checkNginxScaleConf(t, string(text), "app-scale", appPort, containerPorts)

	// Three binaries with exactly that environment, one database and the
	// local Redis, behind a round robin.
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	requireRedis(t)
	bin := binary(t)
	const replicas = 3
	var (
		targets []*url.URL
		procs   []*process
	)
	for range replicas {
		port := freePort(t)
		env := baseEnv()
		for k, v := range scale.Environment {
			v = substitute(v, nil)
			switch k {
			case "DATABASE_URL":
				v = retarget(t, v, appURL)
			case "MIGRATION_DATABASE_URL":
				v = retarget(t, v, ownerURL)
			case "REDIS_URL":
				v = strings.Replace(v, "redis:6379", "127.0.0.1:6379", 1)
			case "HTTP_ADDR":
				v = "127.0.0.1:" + port
			case "ADMIN_ADDR":
				v = "" // three here would fight over one port
			}
			env = append(env, k+"="+v)
		}
		// Started together: their migrations race, as in compose.
		p := start(t, bin, env)
		base := "http://127.0.0.1:" + port
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("replica on %s:\n%s", base, p.out.String())
			}
		})
		u, _ := url.Parse(base)
		targets, procs = append(targets, u), append(procs, p)
	}
	for i, u := range targets {
		waitHealthy(t, procs[i], u.String())
	}
	var next, served atomic.Int64
	hits := make([]atomic.Int64, replicas)
	rr := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		i := int(next.Add(1)-1) % replicas
		hits[i].Add(1)
		r.SetURL(targets[i])
		r.Out.Host = r.In.Host
		served.Add(1)
	}}
	front := httptest.NewServer(rr)
	defer front.Close()
	task := walkThrough(t, front.URL)
	token := login(t, front.URL)
	// The task, and the token, on every replica in turn.
	for range 2 * replicas {
		st, list := callList(t, front.URL+"/tasks", token)
		if st != http.StatusOK || !slices.Contains(list, task["id"]) {
			t.Fatalf("GET /tasks through the proxy = %d %v, want the walk-through's task %v", st, list, task["id"])
		}
	}
	for i := range hits {
		if hits[i].Load() == 0 {
			t.Errorf("replica %d served no request of %d", i, served.Load())
		}
	}
}

// callList GETs a task list and returns the status and the tasks' ids.
func callList(t *testing.T, u, token string) (int, []any) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var list []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&list)
	ids := make([]any, len(list))
	for i, task := range list {
		ids[i] = task["id"]
	}
	return resp.StatusCode, ids
}

// checkNginxScaleConf checks the proxy's configuration without nginx:
// balanced braces, every directive ended, one upstream that names the
// replicas' service and port and that proxy_pass sends to, a listen on
// the published container port, and the resolver Docker's DNS needs
// when the upstream re-resolves.
func checkNginxScaleConf(t *testing.T, text, service, port string, containerPorts []string) {
	t.Helper()
	var lines []string
	depth := 0
	for n, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth < 0 {
			t.Fatalf("nginx-scale.conf line %d: a } without its {", n+1)
		}
		if !strings.HasSuffix(line, ";") && !strings.HasSuffix(line, "{") && line != "}" {
			t.Errorf("nginx-scale.conf line %d: %q ends no directive (;) and opens no block", n+1, line)
		}
		lines = append(lines, line)
	}
	if depth != 0 {
		t.Fatalf("nginx-scale.conf: %d blocks left open", depth)
	}
	joined := strings.Join(lines, "\n")
	up := regexp.MustCompile(`(?s)upstream\s+(\w+)\s*\{(.*?)\}`).FindStringSubmatch(joined)
	if up == nil {
		t.Fatal("nginx-scale.conf has no upstream block")
	}
	server := regexp.MustCompile(`(?m)^server\s+([\w.-]+):(\d+)\b([^;]*);`).FindStringSubmatch(up[2])
	if server == nil || server[1] != service || server[2] != port {
		t.Errorf("upstream %s's server = %q, want %s:%s (the replicas' service and HTTP_ADDR port)", up[1], server, service, port)
	}
	if server != nil && strings.Contains(server[3], "resolve") {
		if !regexp.MustCompile(`(?m)^resolver\s+127\.0\.0\.11\b`).MatchString(joined) {
			t.Error("the upstream re-resolves its server, but no resolver names Docker's DNS (127.0.0.11)")
		}
		if !regexp.MustCompile(`(?m)^zone\s+\w+\s+\w+;`).MatchString(up[2]) {
			t.Error("an upstream server with resolve needs a shared memory zone")
		}
	}
	if pass := regexp.MustCompile(`(?m)^proxy_pass\s+http://(\w+);`).FindStringSubmatch(joined); pass == nil || pass[1] != up[1] {
		t.Errorf("proxy_pass = %q, want http://%s", pass, up[1])
	}
	listen := regexp.MustCompile(`(?m)^listen\s+(\d+);`).FindStringSubmatch(joined)
	if listen == nil || !slices.Contains(containerPorts, listen[1]) {
		t.Errorf("listen = %q, want the published container port %q", listen, containerPorts)
	}
	if _, err := strconv.Atoi(port); err != nil {
		t.Errorf("replica port %q", port)
	}
}
