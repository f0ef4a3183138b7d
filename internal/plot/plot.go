// SPDX-License-Identifier: Apache-2.0

package plot

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/caetrain/caetrain/internal/atomicfile"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one named line of a Figure.
type Series struct {
	Name   string
	X, Y   []float64
	Points bool // mark each point as well
}

// Figure is a line chart.
type Figure struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool // logarithmic axes
	Series                []Series
	// Width and Height in inches; zero gives 6 × 4 (576 × 384 pixels).
	Width, Height float64
}

// WritePNG draws f and writes it to path atomically. It is an error for
// every series to be empty (after dropping the points a logarithmic axis
// cannot show).
func (f Figure) WritePNG(path string) (err error) {
	// gonum/plot panics on some inputs (e.g. a degenerate log range); keep
	// panics inside this package.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: drawing %s: %v", path, r)
		}
	}()
	p := gplot.New()
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	if f.LogX {
		p.X.Scale = gplot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	}
	if f.LogY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	drawn := 0
	for i, s := range f.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot: %s: series %q has %d x and %d y values", path, s.Name, len(s.X), len(s.Y))
		}
		var xys plotter.XYs
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if bad(x, f.LogX) || bad(y, f.LogY) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		drawn++
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot: %s: series %q: %w", path, s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		if s.Points {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return fmt.Errorf("plot: %s: series %q: %w", path, s.Name, err)
			}
			sc.Color = plotutil.Color(i)
			sc.Shape = plotutil.Shape(i)
			p.Add(sc)
			if s.Name != "" {
				p.Legend.Add(s.Name, l, sc)
			}
		} else if s.Name != "" {
			p.Legend.Add(s.Name, l)
		}
	}
	if drawn == 0 {
		return fmt.Errorf("plot: %s: nothing to draw", path)
	}
	if f.LogY {
		widenLog(&p.Y.Min, &p.Y.Max)
	}
	if f.LogX {
		widenLog(&p.X.Min, &p.X.Max)
	}
	w, h := f.Width, f.Height
	if w <= 0 || h <= 0 {
		w, h = 6, 4
	}
	wt, err := p.WriterTo(vg.Length(w)*vg.Inch, vg.Length(h)*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot: %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	}, 0o644)
}

// bad reports whether v cannot be drawn on an axis.
func bad(v float64, log bool) bool {
	return math.IsNaN(v) || math.IsInf(v, 0) || (log && !(v > 0))
}

// widenLog makes a logarithmic range span at least a factor of 10, so that
// it has a labelled tick.
func widenLog(lo, hi *float64) {
	if *hi/(*lo) < 10 {
		mid := math.Sqrt(*lo * *hi)
		*lo, *hi = mid/math.Sqrt(10), mid*math.Sqrt(10)
	}
}

// errNoData is wrapped by LossCurve when metrics.jsonl holds no losses.
var errNoData = errors.New("no loss values to draw")

// logTicks marks 1…9 × 10^e on a logarithmic axis and labels enough of them
// to read values off a narrow range: every power of ten, plus 2 and 5 (or 2
// to 9, within a decade or two) times it when the range spans few decades.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	e0, e1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	labelled := map[int]bool{1: true}
	switch span := e1 - e0; {
	case span <= 1:
		for m := 2; m <= 9; m++ {
			labelled[m] = true
		}
	case span <= 2:
		labelled[2], labelled[3], labelled[5] = true, true, true
	case span <= 3:
		labelled[2], labelled[5] = true, true
	}
	var ticks []gplot.Tick
	for e := e0; e <= e1; e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, float64(e))
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := gplot.Tick{Value: v}
			if labelled[m] {
				t.Label = tickLabel(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// tickLabel writes v with at most three significant digits, in plain
// notation between 1e-4 and 1e5.
func tickLabel(v float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	if a := math.Abs(r); a >= 1e-4 && a < 1e5 {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'g', 3, 64)
}
