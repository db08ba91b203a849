// Package taskflow_test holds repository-wide checks: the import direction
// of the hexagonal layout (adapters -> application -> ports -> domain).
// golangci-lint's depguard (.golangci.yml, make lint) checks each file's
// direct imports; these tests check what it cannot: every package's whole
// dependency closure, so a path through a helper package is caught too.
package taskflow_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/taskflow/taskflow"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps,Standard", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func isStd(path string) bool { return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") }

// TestArchitecture_ImportsPointInward fails when a package imports
// something its layer may not know. It checks the full dependency closure
// (Deps), so an indirect path through a helper package is caught too.
func TestArchitecture_ImportsPointInward(t *testing.T) {
	frameworks := []string{"github.com/gofiber/", "github.com/jmoiron/sqlx", "github.com/lib/pq", "github.com/redis/go-redis",
		"github.com/spf13/viper", "go.uber.org/fx", "modernc.org/", "github.com/golang-jwt/", "golang.org/x/crypto",
		"github.com/prometheus/", "github.com/valyala/fasthttp"}
	checked := 0
	for _, p := range listPackages(t) {
		r := rel(p.ImportPath)
		layer := strings.SplitN(r, "/", 2)[0]
		for _, d := range p.Deps {
			own := strings.HasPrefix(d, module+"/")
			switch layer {
			case "domain":
				if !isStd(d) {
					t.Errorf("%s depends on %s: domain may use the standard library only", r, d)
				}
			case "ports":
				if own && !strings.HasPrefix(rel(d), "domain") {
					t.Errorf("%s depends on %s: ports may know only the domain", r, d)
				}
			case "application":
				if own && !strings.HasPrefix(rel(d), "domain") && !strings.HasPrefix(rel(d), "ports") {
					t.Errorf("%s depends on %s: application may know only ports and domain", r, d)
				}
			}
			if layer == "ports" || layer == "application" {
				for _, f := range frameworks {
					if strings.HasPrefix(d, f) {
						t.Errorf("%s depends on %s: the core must not know frameworks or drivers", r, d)
					}
				}
			}
		}
		if layer == "adapters" {
			parts := strings.SplitN(r, "/", 3)
			for _, imp := range p.Imports {
				ir := rel(imp)
				if strings.HasPrefix(imp, module+"/bootstrap") || strings.HasPrefix(imp, module+"/config") {
					t.Errorf("%s imports %s: adapters are wired by bootstrap, not the other way round", r, imp)
				}
				if strings.HasPrefix(ir, "adapters/") && strings.SplitN(ir, "/", 3)[1] != parts[1] {
					t.Errorf("%s imports %s: adapters must not know each other", r, imp)
				}
			}
		}
		if layer != "bootstrap" && layer != "" {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, "go.uber.org/fx") {
					t.Errorf("%s imports fx: only bootstrap may", r)
				}
			}
		}
		checked++
	}
	t.Logf("checked %d packages", checked)
}
