package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The picture of a run (docs/performance.svg): each goal's figure against
// its target, then each scenario's p50 and p99 on a log scale. It is drawn
// by hand with fmt, so that it needs no dependency and the same figures
// always give the same bytes.

// defaultSVG is where -svg draws by default, from the repository's root.
const defaultSVG = "docs/performance.svg"

// picture is what the SVG shows, taken from a run by pictureOf (fixed in
// tests).
type picture struct {
	when     time.Time
	commit   string
	subtitle string
	goals    []goalValue
	runs     []runTiming
}

// runTiming is one scenario row of the report.
type runTiming struct {
	name     string // "cached_list (memory)"
	p50, p99 time.Duration
	noisy    bool // starred in the report: other processes were busy
}

// writeSVG draws the run into -svg. A failure is logged, not returned:
// the figures are printed already, and a picture is not worth a run.
func (b *bench) writeSVG() {
	path := b.o.svg
	if path == "" {
		return
	}
	if b.o.svgInRepo {
		path = filepath.Join(b.root, path)
	}
	pic := pictureOf(b, time.Now().UTC(), commitOf(b.root, path))
	if err := os.WriteFile(path, renderSVG(pic), 0o644); err != nil {
		b.logf("picture not written: %v", err)
		return
	}
	b.logf("picture: %s", path)
}

func pictureOf(b *bench, when time.Time, commit string) picture {
	o := b.o
	pic := picture{when: when, commit: commit, goals: evaluate(summarize(b.rows)),
		subtitle: fmt.Sprintf("seed %d orgs x %d tasks + one of %d; %s per scenario at %d connections; backends %s; %d CPUs, %s",
			o.size.orgs, o.size.tasksPerOrg, o.size.deepTasks, o.duration, o.conc, strings.Join(o.backends, ", "),
			runtime.NumCPU(), runtime.Version())}
	if b.scale != nil {
		pic.subtitle += fmt.Sprintf("; scale: %d orgs x %d tasks", len(b.scale.orgs), scaleTasksPerOrg)
	}
	if o.quick {
		pic.subtitle = "-quick: " + pic.subtitle
	}
	for _, r := range b.rows {
		pic.runs = append(pic.runs, runTiming{name: r.scenario + " (" + r.backend + ")", p50: r.res.hist.quantile(0.5),
			p99: r.res.hist.quantile(0.99), noisy: r.res.usage.cpuOther > o.maxOther})
	}
	return pic
}

// commitOf names the checked-out commit of the repository at root, with
// "+changes" when tracked files other than the picture itself differ
// from it; "unknown commit" without git.
func commitOf(root, picturePath string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown commit"
	}
	commit := strings.TrimSpace(string(out))
	rel, _ := filepath.Rel(root, picturePath)
	status, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return commit
	}
	for line := range strings.Lines(string(status)) {
		if len(line) > 3 && strings.TrimSpace(line[3:]) != filepath.ToSlash(rel) {
			return commit + "+changes"
		}
	}
	return commit
}

// Layout, in pixels.
const (
	svgWidth  = 1000
	svgLabelX = 16  // labels start
	svgBarX   = 330 // bars start
	svgBarW   = 440 // the longest bar
	svgTextX  = svgBarX + svgBarW + 14
	goalRowH  = 24
	runRowH   = 18
)

// Colours.
const (
	colMet     = "#2e7d32"
	colMissed  = "#c62828"
	colNeutral = "#9e9e9e"
	colP50     = "#1565c0"
	colP99     = "#90caf9"
	colGrid    = "#e0e0e0"
)

// renderSVG draws pic. Each goal is a bar of its value with a black mark
// at its target: the ratios on one shared scale, the figures with a unit
// (MB, ms) each on a scale of its own with the mark at its middle, unless
// the value is larger; a figure whose target is 0 (errors) is a dot.
func renderSVG(pic picture) []byte {
	var w svgWriter
	w.el(`<text x="%d" y="28" class="title">%s</text>`, svgLabelX,
		esc(fmt.Sprintf("TaskFlow make bench, %s, commit %s", pic.when.Format("2006-01-02 15:04 UTC"), pic.commit)))
	w.el(`<text x="%d" y="48" class="sub">%s</text>`, svgLabelX, esc(pic.subtitle))
	y := 80.0
	w.el(`<text x="%d" y="%.0f" class="head">Goals: this run's value (bar) against its target (black mark); green met, red missed</text>`, svgLabelX, y)
	y += 12

	var ratios, units []goalValue
	for _, g := range pic.goals {
		if g.unit == "" {
			ratios = append(ratios, g)
		} else {
			units = append(units, g)
		}
	}
	if len(ratios) > 0 {
		top := 1.0
		for _, g := range ratios {
			top = math.Max(top, math.Max(g.value, g.target))
		}
		top = math.Ceil(top*1.05/0.25) * 0.25
		bottom := y + float64(len(ratios))*goalRowH
		for t := 0.0; t <= top+1e-9; t += 0.25 {
			x := svgBarX + t/top*svgBarW
			w.el(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, x, y, x, bottom, colGrid)
			if math.Mod(t+1e-9, 0.5) < 1e-6 {
				w.el(`<text x="%.1f" y="%.1f" class="tick" text-anchor="middle">%.1f</text>`, x, bottom+12, t)
			}
		}
		for _, g := range ratios {
			w.goalRow(g, y, top)
			y += goalRowH
		}
		y += 22
	}
	for _, g := range units {
		top := math.Max(2*g.target, g.value*1.1)
		w.goalRow(g, y, top)
		y += goalRowH
	}
	if len(units) > 0 {
		w.el(`<text x="%d" y="%.1f" class="tick">rows with a unit: each on its own scale, 0 to twice its target (or past its value)</text>`, svgBarX, y+10)
		y += 22
	}

	if len(pic.runs) > 0 {
		y += 20
		w.el(`<text x="%d" y="%.0f" class="head">Scenarios: p50 (dark) and p99 (light), log scale</text>`, svgLabelX, y)
		y += 12
		lo, hi := math.Inf(1), 0.0
		for _, r := range pic.runs {
			if r.p50 > 0 {
				lo = math.Min(lo, float64(r.p50))
				hi = math.Max(hi, float64(r.p99))
			}
		}
		if hi > 0 {
			lo = math.Pow(10, math.Floor(math.Log10(lo)))
			hi = math.Pow(10, math.Ceil(math.Log10(hi)))
			if hi <= lo {
				hi = lo * 10
			}
			xOf := func(d time.Duration) float64 {
				return svgBarX + math.Log10(float64(d)/lo)/math.Log10(hi/lo)*svgBarW
			}
			bottom := y + float64(len(pic.runs))*runRowH
			for t := lo; t <= hi*1.0001; t *= 10 {
				x := xOf(time.Duration(t))
				w.el(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, x, y, x, bottom, colGrid)
				w.el(`<text x="%.1f" y="%.1f" class="tick" text-anchor="middle">%s</text>`, x, bottom+12, esc(decade(time.Duration(t))))
			}
			noisy := false
			for _, r := range pic.runs {
				name := r.name
				if r.noisy {
					name += " *"
					noisy = true
				}
				w.el(`<text x="%d" y="%.1f" class="label">%s</text>`, svgLabelX, y+13, esc(name))
				if r.p50 > 0 {
					w.el(`<rect x="%d" y="%.1f" width="%.1f" height="12" fill="%s"/>`, svgBarX, y+3, xOf(r.p99)-svgBarX, colP99)
					w.el(`<rect x="%d" y="%.1f" width="%.1f" height="6" fill="%s"/>`, svgBarX, y+6, xOf(r.p50)-svgBarX, colP50)
					w.el(`<text x="%d" y="%.1f" class="value">p50 %s, p99 %s</text>`, svgTextX, y+13, esc(fmtDur(r.p50)), esc(fmtDur(r.p99)))
				}
				y += runRowH
			}
			y += 16
			if noisy {
				y += 14
				w.el(`<text x="%d" y="%.1f" class="tick">* other processes took more than the limit of a core during the run (see the report)</text>`, svgLabelX, y)
			}
		}
	}
	y += 20

	var out bytes.Buffer
	fmt.Fprintf(&out, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>
.title { font-size: 18px; font-weight: bold; fill: #212121 }
.sub { font-size: 12px; fill: #616161 }
.head { font-size: 14px; font-weight: bold; fill: #212121 }
.label { font-size: 12px; font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; fill: #212121 }
.value { font-size: 12px; fill: #212121 }
.tick { font-size: 10px; fill: #757575 }
</style>
<rect width="100%%" height="100%%" fill="#ffffff"/>
`, svgWidth, y, svgWidth, y)
	out.Write(w.buf.Bytes())
	out.WriteString("</svg>\n")
	return out.Bytes()
}

// svgWriter collects the picture's elements, one a line.
type svgWriter struct{ buf bytes.Buffer }

func (w *svgWriter) el(format string, args ...any) {
	fmt.Fprintf(&w.buf, format, args...)
	w.buf.WriteByte('\n')
}

// goalRow draws one goal at y, on a scale from 0 to top.
func (w *svgWriter) goalRow(g goalValue, y, top float64) {
	colour := colMet
	verdict := "met"
	switch {
	case g.cmp == "":
		colour, verdict = colNeutral, "no target"
	case !g.met():
		colour, verdict = colMissed, "MISSED"
	}
	w.el(`<text x="%d" y="%.1f" class="label">%s</text>`, svgLabelX, y+16, esc(g.line))
	target := ""
	if g.cmp != "" {
		target = "target " + g.targetText()
	}
	text := fmt.Sprintf(`<text x="%d" y="%.1f" class="value"><tspan font-weight="bold">%s</tspan><tspan dx="8">%s</tspan>`+
		`<tspan dx="8" font-weight="bold" fill="%s">%s</tspan></text>`, svgTextX, y+16, esc(formatGoalValue(g)), esc(target), colour, esc(verdict))
	if top <= 0 { // a target of 0 and a value of 0: nothing to scale
		w.el(`<circle cx="%d" cy="%.1f" r="6" fill="%s"/>`, svgBarX+6, y+11, colour)
		w.el("%s", text)
		return
	}
	width := math.Min(g.value/top, 1) * svgBarW
	w.el(`<rect x="%d" y="%.1f" width="%.1f" height="14" fill="%s"/>`, svgBarX, y+4, width, colour)
	if g.cmp != "" {
		x := svgBarX + math.Min(g.target/top, 1)*svgBarW
		w.el(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000000" stroke-width="2"/>`, x, y+1, x, y+21)
	}
	w.el("%s", text)
}

// formatGoalValue prints a figure as the report's machine lines do.
func formatGoalValue(g goalValue) string {
	switch g.unit {
	case "MB":
		return fmt.Sprintf("%.1f MB", g.value)
	case "ms":
		return fmt.Sprintf("%.2f ms", g.value)
	case "errors":
		return fmt.Sprintf("%.0f", g.value)
	}
	return fmt.Sprintf("%.3f", g.value)
}

// decade labels a power of ten on the time axis: 100µs, 1ms, 10s.
func decade(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
