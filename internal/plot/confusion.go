// SPDX-License-Identifier: Apache-2.0

package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"github.com/caetrain/caetrain/internal/atomicfile"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// confusionGrid is a confusion matrix as a heat map's grid: column c is
// the predicted class, row r the true class (row 0 drawn at the top), and
// the value is the square root of the share of the true class's samples
// (so that shares of a few per cent, the errors, show).
type confusionGrid struct {
	m    [][]int
	rows []int // samples of each true class
}

func (g confusionGrid) Dims() (c, r int) { return len(g.m), len(g.m) }
func (g confusionGrid) X(c int) float64  { return float64(c) }
func (g confusionGrid) Y(r int) float64  { return float64(r) }
func (g confusionGrid) Z(c, r int) float64 {
	t := len(g.m) - 1 - r // the true class drawn at height r
	if g.rows[t] == 0 {
		return 0
	}
	return math.Sqrt(float64(g.m[t][c]) / float64(g.rows[t]))
}

// blues runs from white to dark blue.
type blues struct{}

func (blues) Colors() []color.Color {
	cs := make([]color.Color, 64)
	for i := range cs {
		f := float64(i) / 63
		cs[i] = color.RGBA{R: uint8(255 - 247*f), G: uint8(255 - 207*f), B: uint8(255 - 148*f), A: 255}
	}
	return cs
}

// Confusion draws a confusion matrix m (m[true][predicted] counts, square)
// as a heat map of each true class's shares (white to blue, by the square
// root of the share), with the counts written in the cells, and writes it to path atomically.
func Confusion(path, title string, m [][]int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: drawing %s: %v", path, r)
		}
	}()
	n := len(m)
	if n == 0 {
		return fmt.Errorf("plot: %s: empty confusion matrix", path)
	}
	g := confusionGrid{m: m, rows: make([]int, n)}
	for i, row := range m {
		if len(row) != n {
			return fmt.Errorf("plot: %s: confusion matrix row %d has %d entries, want %d", path, i, len(row), n)
		}
		for _, v := range row {
			g.rows[i] += v
		}
	}
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = "predicted class"
	p.Y.Label.Text = "true class"
	hm := plotter.NewHeatMap(g, blues{})
	hm.Min, hm.Max = 0, 1
	p.Add(hm)
	var lab plotter.XYLabels
	for t := 0; t < n; t++ {
		for c := 0; c < n; c++ {
			if m[t][c] == 0 {
				continue
			}
			lab.XYs = append(lab.XYs, plotter.XY{X: float64(c), Y: float64(n - 1 - t)})
			lab.Labels = append(lab.Labels, strconv.Itoa(m[t][c]))
		}
	}
	if len(lab.XYs) > 0 {
		l, err := plotter.NewLabels(lab)
		if err != nil {
			return fmt.Errorf("plot: %s: %w", path, err)
		}
		for i, xy := range lab.XYs {
			l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
			l.TextStyle[i].Font.Size = vg.Points(8)
			if g.Z(int(xy.X), int(xy.Y)) > 0.6 {
				l.TextStyle[i].Color = color.White
			}
		}
		p.Add(l)
	}
	ticks := make([]gplot.Tick, n)
	yticks := make([]gplot.Tick, n)
	for i := 0; i < n; i++ {
		ticks[i] = gplot.Tick{Value: float64(i), Label: strconv.Itoa(i)}
		yticks[i] = gplot.Tick{Value: float64(n - 1 - i), Label: strconv.Itoa(i)}
	}
	p.X.Tick.Marker = gplot.ConstantTicks(ticks)
	p.Y.Tick.Marker = gplot.ConstantTicks(yticks)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5, -0.5, float64(n)-0.5
	wt, err := p.WriterTo(6*vg.Inch, 6*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot: %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	}, 0o644)
}
