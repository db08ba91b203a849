package bootstrap

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/fx/fxtest"

	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// CACHE_MEMORY_MAX_BYTES reaches the memory backend's cache: 100 pages of
// 4 KiB all stay under the default 16 MiB, and no more than 16 fit in 64 KiB.
func TestNewListCache_memory_is_bounded_by_CACHE_MEMORY_MAX_BYTES(t *testing.T) {
	for _, tt := range []struct {
		maxBytes    int
		least, most int
	}{
		{maxBytes: 16 << 20, least: 100, most: 100},
		{maxBytes: 64 << 10, least: 1, most: 16},
	} {
		t.Run(fmt.Sprint(tt.maxBytes), func(t *testing.T) {
			cfg := &config.Config{CacheBackend: "memory", CacheTTL: time.Minute, CacheMemoryMaxBytes: tt.maxBytes}
			out, err := newListCache(fxtest.NewLifecycle(t), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "", metrics.New(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, c := t.Context(), out.Cache
			gens, err := c.Generations(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			gen := gens[ports.SpaceTasks]
			for i := range 100 {
				if err := c.Set(ctx, 1, ports.SpaceTasks, gen, fmt.Sprint("limit=10&page=", i), make([]byte, 4<<10)); err != nil {
					t.Fatal(err)
				}
			}
			hits := 0
			for i := range 100 {
				if v, _ := c.Get(ctx, 1, ports.SpaceTasks, gen, fmt.Sprint("limit=10&page=", i)); v != nil {
					hits++
				}
			}
			if hits < tt.least || hits > tt.most {
				t.Fatalf("%d of 100 pages of 4 KiB kept under %d bytes, want %d to %d", hits, tt.maxBytes, tt.least, tt.most)
			}
		})
	}
}
