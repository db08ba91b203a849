// Package deploy_test checks the observability files of deploy/ and the
// compose profile that uses them. No container engine runs here: the
// compose file is parsed, the Prometheus configuration goes through
// promtool, and the Grafana provisioning is checked against the mounts.
package deploy_test

import (
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type composeService struct {
	Image       string            `yaml:"image"`
	Profiles    []string          `yaml:"profiles"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	// The long form only (cmd/taskflow's compose test reads it so).
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "../docker-compose.yml", &c)
	return c
}

// mounts maps a service's bind mounts, container path to the source
// relative to the repository root (named volumes are left out); ":ro"
// is required on every bind mount of deploy/.
func mounts(t *testing.T, name string, s composeService) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
			continue
		}
		src := strings.TrimPrefix(parts[0], "./")
		if strings.HasPrefix(src, "deploy/") && (len(parts) != 3 || parts[2] != "ro") {
			t.Errorf("%s mounts %q read-write, want :ro", name, v)
		}
		if _, err := os.Stat(filepath.Join("..", src)); err != nil {
			t.Errorf("%s mounts %q: %v", name, v, err)
		}
		out[parts[1]] = src
	}
	return out
}

// TestCompose_ObservabilityProfile: the profile adds Prometheus and Grafana
// (and nothing else), the default services stay out of it, each mounts
// its configuration from deploy/ read-only where the image reads it, and
// every published port is on the host's loopback, none twice.
func TestCompose_ObservabilityProfile(t *testing.T) {
	c := loadCompose(t)
	var inProfile []string
	for name, s := range c.Services {
		if slices.Contains(s.Profiles, "observability") {
			inProfile = append(inProfile, name)
		} else if len(s.Profiles) > 0 && !slices.Equal(s.Profiles, []string{"scale"}) {
			// The scale profile (TestCompose_ScaleProfile) is the only other.
			t.Errorf("service %s has profiles %q", name, s.Profiles)
		}
	}
	slices.Sort(inProfile)
	if !slices.Equal(inProfile, []string{"grafana", "prometheus"}) {
		t.Fatalf("profile observability has %q, want grafana and prometheus", inProfile)
	}
	for _, name := range []string{"postgres", "redis", "app"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}

	prom := c.Services["prometheus"]
	if _, ok := prom.DependsOn["app"]; !ok {
		t.Errorf("prometheus does not depend on app: %v", prom.DependsOn)
	}
	if _, ok := c.Services["grafana"].DependsOn["prometheus"]; !ok {
		t.Errorf("grafana does not depend on prometheus: %v", c.Services["grafana"].DependsOn)
	}
	if !strings.HasPrefix(prom.Image, "prom/prometheus:v") {
		t.Errorf("prometheus image %q, want a pinned prom/prometheus:v...", prom.Image)
	}
	pm := mounts(t, "prometheus", prom)
	configFile := ""
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configFile = v
		}
	}
	if configFile == "" || pm[configFile] != "deploy/prometheus/prometheus.yml" {
		t.Errorf("prometheus reads --config.file=%q; mounts %v: want deploy/prometheus/prometheus.yml there", configFile, pm)
	}

	graf := c.Services["grafana"]
	if !strings.HasPrefix(graf.Image, "grafana/grafana:") || strings.HasSuffix(graf.Image, ":latest") {
		t.Errorf("grafana image %q, want a pinned grafana/grafana", graf.Image)
	}
	gm := mounts(t, "grafana", graf)
	for _, kind := range []string{"datasources", "dashboards"} {
		if src := gm["/etc/grafana/provisioning/"+kind]; src != "deploy/grafana/provisioning/"+kind {
			t.Errorf("grafana mounts %q at /etc/grafana/provisioning/%s, want deploy/grafana/provisioning/%s", src, kind, kind)
		}
	}
	dashTarget := ""
	for target, src := range gm {
		if src == "deploy/grafana/taskflow.json" {
			dashTarget = target
		}
	}
	if dashTarget == "" {
		t.Fatalf("grafana does not mount deploy/grafana/taskflow.json (mounts %v)", gm)
	}
	checkDashboardProvider(t, path.Dir(dashTarget))
	checkDatasource(t, c)

	// Published ports: loopback only, no host port twice (the app's admin
	// port is 9090 on the host, so Prometheus must publish elsewhere).
	seen := map[string]string{}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond the host's loopback", name, p)
			}
			hostPort := strings.Split(p, ":")[1]
			if other, dup := seen[hostPort]; dup {
				t.Errorf("host port %s is published by %s and %s", hostPort, other, name)
			}
			seen[hostPort] = name
		}
	}
	if _, ok := c.Volumes["prometheus-data"]; !ok {
		t.Error("the named volume prometheus-data is not declared")
	}
}

// checkDashboardProvider: a file provider reads the directory the
// dashboard is mounted in.
func checkDashboardProvider(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob("grafana/provisioning/dashboards/*.yml")
	if len(files) == 0 {
		t.Fatal("no deploy/grafana/provisioning/dashboards/*.yml")
	}
	found := false
	for _, f := range files {
		var p struct {
			APIVersion int `yaml:"apiVersion"`
			Providers  []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		readYAML(t, f, &p)
		if p.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", f, p.APIVersion)
		}
		for _, pr := range p.Providers {
			if pr.Type == "file" && path.Clean(pr.Options.Path) == dir {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no dashboard provider of type file reads %s, where the dashboard is mounted", dir)
	}
}

// checkDatasource: the provisioned data source is the default, of type
// prometheus, at the compose service's address.
func checkDatasource(t *testing.T, c composeFile) {
	t.Helper()
	files, _ := filepath.Glob("grafana/provisioning/datasources/*.yml")
	if len(files) == 0 {
		t.Fatal("no deploy/grafana/provisioning/datasources/*.yml")
	}
	var p struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
			IsDefault            bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, files[0], &p)
	if p.APIVersion != 1 || len(p.Datasources) != 1 {
		t.Fatalf("%s: apiVersion %d, %d data sources; want 1 and 1", files[0], p.APIVersion, len(p.Datasources))
	}
	ds := p.Datasources[0]
	if ds.Type != "prometheus" || !ds.IsDefault || ds.UID == "" {
		t.Errorf("data source %+v: want the default, of type prometheus, with a uid", ds)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(ds.URL, "http://"), ":")
	if _, ok := c.Services[host]; !ok || port != "9090" {
		t.Errorf("data source url %q: want http://<the prometheus service>:9090", ds.URL)
	}
}

// TestPrometheus_ScrapesTheAppAdminPort: a scrape job reads /metrics at the
// app service's ADMIN_ADDR port on the compose network.
func TestPrometheus_ScrapesTheAppAdminPort(t *testing.T) {
	c := loadCompose(t)
	_, adminPort, err := net.SplitHostPort(c.Services["app"].Environment["ADMIN_ADDR"])
	if err != nil || adminPort == "" {
		t.Fatalf("app ADMIN_ADDR %q: %v", c.Services["app"].Environment["ADMIN_ADDR"], err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &cfg)
	want := "app:" + adminPort
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, want) {
				if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
					t.Errorf("job %s scrapes %s%s, want /metrics", sc.JobName, want, sc.MetricsPath)
				}
				return
			}
		}
	}
	t.Errorf("no scrape job targets %s", want)
}

// TestPrometheus_PromtoolCheckConfig runs `promtool check config` (Debian
// package prometheus; .ci/run installs it). Under CI=true a missing
// promtool fails the test.
func TestPrometheus_PromtoolCheckConfig(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus; .ci/run does)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	out, err := exec.Command(promtool, "check", "config", "prometheus/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check config said:\n%s", out)
	}
	// promtool must be able to fail: a broken copy is refused.
	bad := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(bad, []byte("scrape_configs:\n  - job_name: taskflow\n    scrape_interval: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", bad).CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a broken configuration:\n%s", out)
	}
}
