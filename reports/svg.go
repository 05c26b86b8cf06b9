package reports

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Plots are hand-written SVG rather than gonum/plot: inline SVG that inherits the page's font and
// colours, scales with its container (viewBox), carries hover titles, and stays a few KB.

// series is one line (or step line) on a chart.
type series struct {
	Name    string
	Color   string
	Points  [][2]float64
	Step    bool   // draw as a post-step function (precision-recall)
	Dash    string // stroke-dasharray, "" for solid
	Markers bool
	Tips    []string // hover text per point (markers only)
}

// bars is a histogram drawn as filled columns.
type bars struct {
	Name   string
	Color  string
	Edges  []float64 // len(Counts)+1
	Counts []float64
}

type chart struct {
	Title          string
	XLabel, YLabel string
	XMin, XMax     float64
	YMin, YMax     float64
	Series         []series
	Bars           []bars
	Diagonal       bool // dashed y = x reference
	HLine          *float64
	HLineLabel     string
	Legend         string // corner for the legend: "tl" (default), "tr", "bl", "br"
}

const (
	chartW, chartH                   = 440, 330
	padL, padR, padT, padB           = 56, 16, 34, 46
	plotW, plotH                     = chartW - padL - padR, chartH - padT - padB
	axisColor, gridColor, mutedColor = "#94a3b8", "#e2e8f0", "#64748b"
	refColor                         = "#94a3b8"
	maxCurvePoints                   = 800
)

func (c *chart) x(v float64) float64 {
	return padL + (v-c.XMin)/(c.XMax-c.XMin)*plotW
}

func (c *chart) y(v float64) float64 {
	return padT + plotH - (v-c.YMin)/(c.YMax-c.YMin)*plotH
}

func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// svg renders the chart as a standalone <svg> element.
func (c *chart) svg() string {
	if c.XMax <= c.XMin {
		c.XMax = c.XMin + 1
	}
	if c.YMax <= c.YMin {
		c.YMax = c.YMin + 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="20" class="ptitle">%s</text>`, padL, html.EscapeString(c.Title))
	// Grid and ticks.
	for _, t := range ticks(c.XMin, c.XMax) {
		x := num(c.x(t))
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s"/>`, x, padT, x, padT+plotH, gridColor)
		fmt.Fprintf(&b, `<text x="%s" y="%d" class="tick" text-anchor="middle">%s</text>`, x, padT+plotH+16, tickLabel(t))
	}
	for _, t := range ticks(c.YMin, c.YMax) {
		y := num(c.y(t))
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s"/>`, padL, y, padL+plotW, y, gridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%s" class="tick" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, y, tickLabel(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`, padL, padT, plotW, plotH, axisColor)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="middle">%s</text>`, padL+plotW/2, chartH-8, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" class="axis" text-anchor="middle">%s</text>`, padT+plotH/2, html.EscapeString(c.YLabel))

	if c.Diagonal {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="4 4"/>`,
			num(c.x(c.XMin)), num(c.y(c.YMin)), num(c.x(c.XMax)), num(c.y(c.YMax)), refColor)
	}
	if c.HLine != nil {
		y := num(c.y(*c.HLine))
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s" stroke-dasharray="4 4"><title>%s</title></line>`,
			padL, y, padL+plotW, y, refColor, html.EscapeString(c.HLineLabel))
	}
	for _, bs := range c.Bars {
		for i, cnt := range bs.Counts {
			if cnt <= 0 {
				continue
			}
			x0, x1 := c.x(bs.Edges[i]), c.x(bs.Edges[i+1])
			y0 := c.y(cnt)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.45" stroke="%s" stroke-width="1"><title>%s: %g rows with prob in [%.2f, %.2f)</title></rect>`,
				num(x0+0.5), num(y0), num(math.Max(0, x1-x0-1)), num(c.y(c.YMin)-y0), bs.Color, bs.Color,
				html.EscapeString(bs.Name), cnt, bs.Edges[i], bs.Edges[i+1])
		}
	}
	for _, s := range c.Series {
		if len(s.Points) == 0 {
			continue
		}
		var d strings.Builder
		for i, p := range s.Points {
			x, y := num(c.x(p[0])), num(c.y(p[1]))
			switch {
			case i == 0:
				fmt.Fprintf(&d, "M%s %s", x, y)
			case s.Step:
				fmt.Fprintf(&d, "H%sV%s", x, y)
			default:
				fmt.Fprintf(&d, "L%s %s", x, y)
			}
		}
		dash := ""
		if s.Dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.Dash)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2.2" stroke-linejoin="round"%s><title>%s</title></path>`,
			d.String(), s.Color, dash, html.EscapeString(s.Name))
		if s.Markers {
			for i, p := range s.Points {
				tip := s.Name
				if i < len(s.Tips) {
					tip = s.Tips[i]
				}
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.6" fill="#fff" stroke="%s" stroke-width="2"><title>%s</title></circle>`,
					num(c.x(p[0])), num(c.y(p[1])), s.Color, html.EscapeString(tip))
			}
		}
	}
	c.legend(&b)
	b.WriteString(`</svg>`)
	return b.String()
}

func (c *chart) legend(b *strings.Builder) {
	type entry struct{ name, color, dash string }
	var es []entry
	for _, bs := range c.Bars {
		es = append(es, entry{bs.Name, bs.Color, "bar"})
	}
	for _, s := range c.Series {
		if s.Name != "" {
			es = append(es, entry{s.Name, s.Color, s.Dash})
		}
	}
	if len(es) == 0 {
		return
	}
	width := 0
	for _, e := range es {
		width = max(width, 30+len([]rune(e.name))*6) // about 6 px per character at 11.5 px
	}
	x, y := padL+10, padT+14
	if c.Legend == "tr" || c.Legend == "br" {
		x = padL + plotW - 10 - width
	}
	if c.Legend == "bl" || c.Legend == "br" {
		y = padT + plotH - 12 - 18*(len(es)-1)
	}
	for i, e := range es {
		yy := y + 18*i
		if e.dash == "bar" {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="16" height="10" fill="%s" fill-opacity="0.45" stroke="%s"/>`, x, yy-6, e.color, e.color)
		} else {
			dash := ""
			if e.dash != "" {
				dash = fmt.Sprintf(` stroke-dasharray="%s"`, e.dash)
			}
			fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"%s/>`, x, yy, x+16, yy, e.color, dash)
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" class="legend" dominant-baseline="middle" paint-order="stroke" stroke="#fff" stroke-width="3">%s</text>`, x+22, yy, html.EscapeString(e.name))
	}
}

// ticks returns about five round tick values covering [lo, hi].
func ticks(lo, hi float64) []float64 {
	span := hi - lo
	if span <= 0 || math.IsInf(span, 0) || math.IsNaN(span) {
		return []float64{lo}
	}
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		v, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'g', 12, 64), 64) // 0.6, not 0.6000000000000001
		out = append(out, v+0)                                                   // +0 turns −0 into 0
	}
	return out
}

func tickLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 10000:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case a >= 1:
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	default:
		return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
	}
}

// thin keeps at most maxCurvePoints points (always the first and last) so a curve over a
// million rows stays a small path.
func thin(pts [][2]float64) [][2]float64 {
	if len(pts) <= maxCurvePoints {
		return pts
	}
	out := make([][2]float64, 0, maxCurvePoints+1)
	step := float64(len(pts)-1) / float64(maxCurvePoints-1)
	for i := 0; i < maxCurvePoints; i++ {
		out = append(out, pts[int(math.Round(float64(i)*step))])
	}
	return out
}
