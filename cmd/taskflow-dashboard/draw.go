package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sort"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Grafana's dark theme, roughly.
var (
	bgColor     = color.RGBA{0x11, 0x12, 0x17, 0xff}
	panelColor  = color.RGBA{0x18, 0x1b, 0x1f, 0xff}
	borderColor = color.RGBA{0x2c, 0x30, 0x35, 0xff}
	gridColor   = color.RGBA{0x26, 0x29, 0x2e, 0xff}
	textColor   = color.RGBA{0xcc, 0xcc, 0xdc, 0xff}
	dimColor    = color.RGBA{0x8e, 0x8e, 0x9e, 0xff}
	phaseColor  = color.RGBA{0x22, 0x25, 0x2b, 0xff}
	palette     = []color.RGBA{
		{0x73, 0xbf, 0x69, 0xff}, {0xf2, 0xcc, 0x0c, 0xff}, {0x57, 0x94, 0xf2, 0xff}, {0xff, 0x78, 0x0a, 0xff},
		{0xf2, 0x49, 0x5c, 0xff}, {0xb8, 0x77, 0xd9, 0xff}, {0x8a, 0xb8, 0xff, 0xff}, {0xfa, 0xde, 0x2a, 0xff},
	}
)

const (
	panelW, panelH = 420, 250
	gap            = 8
	headerH        = 44
	maxLegend      = 6
)

// line is one drawn series.
type line struct {
	legend string
	points []float64 // NaN: no data at that scrape
}

// chart is one panel's title, unit and series.
type chart struct {
	title, unit string
	log         bool // a logarithmic y axis
	lines       []line
}

// buildChart evaluates a panel over the timeline; the series are ordered
// by their peak, highest first, and only the first maxLegend are kept.
func buildChart(p panel, tl timeline) chart {
	c := chart{title: p.Title, unit: p.FieldConfig.Defaults.Unit, log: p.FieldConfig.Defaults.Custom.ScaleDistribution.Type == "log"}
	eval := evaluators[p.Title]
	byLegend := map[string][]float64{}
	for i := range tl {
		for k, v := range eval(tl, i) {
			if byLegend[k] == nil {
				byLegend[k] = make([]float64, len(tl))
				for j := range byLegend[k] {
					byLegend[k][j] = math.NaN()
				}
			}
			byLegend[k][i] = v
		}
	}
	for k, pts := range byLegend {
		if k == "" {
			k = "(none)"
		}
		c.lines = append(c.lines, line{k, pts})
	}
	peak := func(l line) float64 {
		m := math.Inf(-1)
		for _, v := range l.points {
			if !math.IsNaN(v) && v > m {
				m = v
			}
		}
		return m
	}
	sort.Slice(c.lines, func(a, b int) bool {
		pa, pb := peak(c.lines[a]), peak(c.lines[b])
		if pa != pb {
			return pa > pb
		}
		return c.lines[a].legend < c.lines[b].legend
	})
	if len(c.lines) > maxLegend {
		c.lines = c.lines[:maxLegend]
	}
	return c
}

// render draws the charts in a grid of cols columns under a header.
func render(charts []chart, cols int, header []string, n int) *image.RGBA {
	rows := (len(charts) + cols - 1) / cols
	w := cols*panelW + (cols+1)*gap
	h := headerH + rows*panelH + (rows+1)*gap
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{bgColor}, image.Point{}, draw.Src)
	for i, s := range header {
		text(img, gap+4, 16+i*16, s, map[bool]color.RGBA{true: textColor, false: dimColor}[i == 0])
	}
	for i, c := range charts {
		x := gap + (i%cols)*(panelW+gap)
		y := headerH + gap + (i/cols)*(panelH+gap)
		drawPanel(img, image.Rect(x, y, x+panelW, y+panelH), c, n)
	}
	return img
}

func drawPanel(img *image.RGBA, r image.Rectangle, c chart, n int) {
	fill(img, r, panelColor)
	strokeRect(img, r, borderColor)
	text(img, r.Min.X+8, r.Min.Y+16, c.title, textColor)

	legendRows := (len(c.lines) + 1) / 2
	plot := image.Rect(r.Min.X+62, r.Min.Y+28, r.Max.X-12, r.Max.Y-20-legendRows*14)
	// The load's phases, shaded.
	for _, p := range phases {
		x0 := plot.Min.X + int(p.start*float64(plot.Dx()))
		x1 := plot.Min.X + int(p.end*float64(plot.Dx()))
		fill(img, image.Rect(x0, plot.Min.Y, x1, plot.Max.Y), phaseColor)
	}
	// The y axis: from 0 (or the lowest value) to a round ceiling in four
	// steps; on a log axis, whole decades.
	scale := func(v float64) float64 { return v }
	if c.log {
		scale = math.Log10
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range c.lines {
		for _, v := range l.points {
			if !math.IsNaN(v) && (!c.log || v > 0) {
				lo, hi = math.Min(lo, scale(v)), math.Max(hi, scale(v))
			}
		}
	}
	if math.IsInf(hi, -1) {
		msg := "No data"
		text(img, plot.Min.X+plot.Dx()/2-len(msg)*7/2, plot.Min.Y+plot.Dy()/2, msg, dimColor)
		return
	}
	var ticks []float64
	if c.log {
		lo, hi = math.Floor(lo), math.Ceil(hi)
		if hi == lo {
			hi++
		}
		for e := lo; e <= hi; e++ {
			ticks = append(ticks, e)
		}
	} else {
		lo = math.Min(lo, 0)
		if c.unit == "percentunit" && hi <= 1 {
			hi = 1
		}
		if hi <= lo { // a flat line: a range that suits the unit
			hi = lo + map[bool]float64{true: 0.001, false: 1}[c.unit == "s"]
		}
		step := niceCeil((hi - lo) / 4)
		if c.unit == "bytes" && hi > 1<<20 {
			step = niceCeil((hi-lo)/4/(1<<20)) * (1 << 20) // whole MiB
		}
		if c.unit != "percentunit" && c.unit != "s" && step < 1 {
			step = 1 // counts and rates in whole units
		}
		hi = lo + 4*step
		for k := 0; k <= 4; k++ {
			ticks = append(ticks, lo+float64(k)*step)
		}
	}
	for _, t := range ticks {
		y := plot.Max.Y - int((t-lo)/(hi-lo)*float64(plot.Dy()))
		hline(img, plot.Min.X, plot.Max.X, y, gridColor)
		v := t
		if c.log {
			v = math.Pow(10, t)
		}
		label := formatValue(v, c.unit)
		text(img, plot.Min.X-6-len(label)*7, y+4, label, dimColor)
	}
	// Time axis: seconds since the start.
	for _, s := range []int{0, n / 2, n - 1} {
		x := plot.Min.X + s*plot.Dx()/max(1, n-1)
		label := fmt.Sprintf("%ds", s)
		text(img, x-len(label)*7/2, plot.Max.Y+14, label, dimColor)
	}
	for li, l := range c.lines {
		col := palette[li%len(palette)]
		px, py, have := 0, 0, false
		for i, v := range l.points {
			if math.IsNaN(v) || c.log && v <= 0 {
				have = false
				continue
			}
			x := plot.Min.X + i*plot.Dx()/max(1, n-1)
			y := plot.Max.Y - int((scale(v)-lo)/(hi-lo)*float64(plot.Dy()))
			if have {
				thickLine(img, px, py, x, y, col)
			} else {
				fill(img, image.Rect(x-1, y-1, x+1, y+1), col)
			}
			px, py, have = x, y, true
		}
		lx := r.Min.X + 12 + (li%2)*(panelW/2)
		ly := plot.Max.Y + 30 + (li/2)*14
		fill(img, image.Rect(lx, ly-8, lx+10, ly-2), col)
		text(img, lx+14, ly, truncate(l.legend, 26), textColor)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-2] + ".."
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*1.0000001 {
			return m * p
		}
	}
	return 10 * p
}

// formatValue writes v in a Grafana unit.
func formatValue(v float64, unit string) string {
	trim := func(f string) string {
		if strings.Contains(f, ".") {
			f = strings.TrimRight(strings.TrimRight(f, "0"), ".")
		}
		return f
	}
	num := func(x float64) string { return trim(fmt.Sprintf("%.2f", x)) }
	switch unit {
	case "percentunit":
		return num(v*100) + "%"
	case "reqps":
		return num(v) + "/s"
	case "s":
		switch {
		case v == 0:
			return "0"
		case v < 1e-3:
			return num(v*1e6) + "us"
		case v < 1:
			return num(v*1e3) + "ms"
		default:
			return num(v) + "s"
		}
	case "bytes":
		for _, u := range []struct {
			div  float64
			name string
		}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
			if v >= u.div {
				return num(v/u.div) + u.name
			}
		}
		return num(v) + "B"
	default:
		if v >= 1000 {
			return num(v/1000) + "k"
		}
		return num(v)
	}
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

func strokeRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X-1, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X-1, r.Max.Y-1, c)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		img.SetRGBA(r.Min.X, y, c)
		img.SetRGBA(r.Max.X-1, y, c)
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

// thickLine draws a two-pixel line (Bresenham, doubled).
func thickLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0+1, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
