package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

// The latency-over-time chart (-svg): per second, the p50 and p99 of
// POST /sales and PATCH /sales/{id}/status and the p99 of the
// completion→projection lag on a logarithmic scale, and below it the
// lifecycles finished per second. The warm-up and the drain are shaded.
// Hand-written SVG: no plotting dependency for one chart.

const (
	svgW, svgH    = 960, 560
	padL, padR    = 70, 190
	topY, topH    = 40, 300
	botY, botH    = 390, 130
	plotW         = svgW - padL - padR
	svgFont       = `font-family="sans-serif" font-size="11"`
	svgMinLatency = 0.1 // ms, the bottom of the log scale
	svgAxisColor  = "#444"
	svgGridColor  = "#ddd"
	svgShadeColor = "#f0f0f0"
)

type svgSeries struct {
	name  string
	color string
	dash  string
	width float64
	value func(Second) (float64, bool)
}

func routeQ(route string, p99 bool) func(Second) (float64, bool) {
	return func(s Second) (float64, bool) {
		q, ok := s.Routes[route]
		if !ok || q.Count == 0 {
			return 0, false
		}
		if p99 {
			return q.P99Ms, true
		}
		return q.P50Ms, true
	}
}

// writeSVG draws r's timeline into path.
func (r *Report) writeSVG(path string) error {
	return os.WriteFile(path, r.svg(), 0o644)
}

func (r *Report) svg() []byte {
	var b bytes.Buffer
	tl := r.Timeline
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	title := fmt.Sprintf("salesflow loadgen: %d clients, %.1f lifecycles/s, %s", r.Config.Clients, r.Lifecycles.PerSecond, r.StartedAt.Format("2006-01-02 15:04 UTC"))
	if r.Config.Rate > 0 {
		title += fmt.Sprintf(" (paced at %.1f/s)", r.Config.Rate)
	}
	fmt.Fprintf(&b, `<text x="%d" y="20" font-family="sans-serif" font-size="14" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(title))
	if len(tl) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>no timeline: the run was shorter than a second</text>`+"\n", padL, topY+20, svgFont)
		b.WriteString("</svg>\n")
		return b.Bytes()
	}

	t0, t1 := tl[0].T-1, tl[len(tl)-1].T
	if t1 <= t0 {
		t1 = t0 + 1
	}
	x := func(t float64) float64 { return padL + (t-t0)/(t1-t0)*plotW }

	// Shade the seconds that are not the measured load.
	for _, s := range tl {
		if s.Phase == "load" {
			continue
		}
		for _, p := range [][2]int{{topY, topH}, {botY, botH}} {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x(s.T-1), p[0], x(s.T)-x(s.T-1), p[1], svgShadeColor)
		}
	}

	// Top: latency, log scale.
	series := []svgSeries{
		{"POST /sales p99", "#d62728", "", 2, routeQ(routeCreateSale, true)},
		{"POST /sales p50", "#d62728", "4 3", 1.2, routeQ(routeCreateSale, false)},
		{"PATCH status p99", "#1f77b4", "", 2, routeQ(routeStatus, true)},
		{"PATCH status p50", "#1f77b4", "4 3", 1.2, routeQ(routeStatus, false)},
		{"projection lag p99", "#2ca02c", "", 2, func(s Second) (float64, bool) {
			return s.Projection.P99Ms, s.Projection.Count > 0
		}},
	}
	hi := 1.0
	for _, s := range tl {
		for _, se := range series {
			if v, ok := se.value(s); ok {
				hi = max(hi, v)
			}
		}
	}
	lo := svgMinLatency
	decades := math.Ceil(math.Log10(hi / lo))
	hi = lo * math.Pow(10, decades)
	ylat := func(v float64) float64 {
		v = max(v, lo)
		return topY + topH - math.Log10(v/lo)/decades*topH
	}
	for d := 0.0; d <= decades; d++ {
		v := lo * math.Pow(10, d)
		y := ylat(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+plotW, y, svgGridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s text-anchor="end">%s</text>`+"\n", padL-6, y+4, svgFont, trimFloat(v))
	}
	fmt.Fprintf(&b, `<text x="16" y="%d" %s transform="rotate(-90 16 %d)" text-anchor="middle">latency, ms (log)</text>`+"\n", topY+topH/2, svgFont, topY+topH/2)
	for i, se := range series {
		var pts []string
		for _, s := range tl {
			if v, ok := se.value(s); ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.T), ylat(v)))
			}
		}
		polyline(&b, pts, se)
		legend(&b, i, se)
	}

	// Bottom: lifecycles per second, linear.
	top := 1.0
	for _, s := range tl {
		top = max(top, s.Lifecycles)
	}
	top = niceCeil(top)
	yrate := func(v float64) float64 { return botY + botH - v/top*botH }
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := yrate(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+plotW, y, svgGridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s text-anchor="end">%s</text>`+"\n", padL-6, y+4, svgFont, trimFloat(v))
	}
	fmt.Fprintf(&b, `<text x="16" y="%d" %s transform="rotate(-90 16 %d)" text-anchor="middle">lifecycles/s</text>`+"\n", botY+botH/2, svgFont, botY+botH/2)
	rate := svgSeries{"lifecycles/s", "#9467bd", "", 2, nil}
	var pts []string
	for _, s := range tl {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.T), yrate(s.Lifecycles)))
	}
	polyline(&b, pts, rate)

	// Axes and the time scale.
	for _, p := range [][2]int{{topY, topH}, {botY, botH}} {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n", padL, p[0], plotW, p[1], svgAxisColor)
	}
	step := niceCeil((t1 - t0) / 10)
	for t := math.Ceil(t0/step) * step; t <= t1; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(t), botY+botH, x(t), botY+botH+4, svgAxisColor)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`+"\n", x(t), botY+botH+16, svgFont, trimFloat(t))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s text-anchor="middle">seconds since the measured load began (shaded: warm-up and drain)</text>`+"\n", padL+plotW/2, botY+botH+34, svgFont)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func polyline(b *bytes.Buffer, pts []string, se svgSeries) {
	if len(pts) == 0 {
		return
	}
	dash := ""
	if se.dash != "" {
		dash = fmt.Sprintf(` stroke-dasharray="%s"`, se.dash)
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%.1f"%s points="%s"/>`+"\n", se.color, se.width, dash, strings.Join(pts, " "))
}

func legend(b *bytes.Buffer, i int, se svgSeries) {
	x0 := svgW - padR + 16
	y := topY + 10 + i*18
	dash := ""
	if se.dash != "" {
		dash = fmt.Sprintf(` stroke-dasharray="%s"`, se.dash)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x0, y, x0+24, y, se.color, se.width, dash)
	fmt.Fprintf(b, `<text x="%d" y="%d" %s>%s</text>`+"\n", x0+30, y+4, svgFont, html.EscapeString(se.name))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}
