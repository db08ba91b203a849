package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// -profile: the binary is built with one extra file, given to `go build
// -overlay` (the repository is not touched), that serves net/http/pprof on
// the address in pprofEnv. During each scenario a CPU profile of the
// measured part is saved as <dir>/<scenario>-<backend>.pprof, with the
// binary next to them for `go tool pprof -top`.

const pprofEnv = "TASKFLOW_BENCH_PPROF_ADDR"

const pprofSource = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("` + pprofEnv + `"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

func writePprofOverlay(root, tmp string) (string, error) {
	src := filepath.Join(tmp, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofSource), 0o644); err != nil {
		return "", err
	}
	ov, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(root, "cmd", "taskflow", "zz_bench_pprof.go"): src},
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(tmp, "overlay.json")
	return path, os.WriteFile(path, ov, 0o644)
}

// profile starts fetching a CPU profile of the service for dur and
// returns a function that waits for it and saves it.
func (b *bench) profile(ctx context.Context, name string, dur time.Duration) func() {
	secs := max(int(dur.Seconds()), 1)
	out := filepath.Join(b.o.profileDir, fmt.Sprintf("%s-%s.pprof", name, b.backend))
	done := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprof, secs), nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("pprof: status %d", resp.StatusCode)
			return
		}
		f, err := os.Create(out)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	return func() {
		if err := <-done; err != nil {
			b.logf("  profile %s: %v", out, err)
			return
		}
		bin := filepath.Join(b.o.profileDir, "taskflow")
		if _, err := os.Stat(bin); err != nil {
			if raw, err := os.ReadFile(b.binary); err == nil {
				_ = os.WriteFile(bin, raw, 0o755)
			}
		}
		b.logf("  profile: go tool pprof -top %s %s", bin, out)
	}
}
