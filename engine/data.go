// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"

	"github.com/caetrain/caetrain/internal/dataset"
	"github.com/caetrain/caetrain/internal/picture"
)

// Data is a training and a test set with their labels.
type Data struct {
	Train, Test             Samples
	TrainLabels, TestLabels []uint8
	Rows, Cols              int
	Source                  string // the directory, or "embedded sample"
	Embedded                bool
	Notice                  string // for stderr when Embedded: how to get the full set
}

// LoadData loads Fashion-MNIST (or MNIST, same format) from, in order: dir
// if non-empty, $CAETRAIN_DATA, /usr/share/datasets/fashion-mnist, or the
// sample embedded in the binary.
func LoadData(dir string) (*Data, error) {
	ds, err := dataset.Load(dir)
	if err != nil {
		return nil, err
	}
	d := &Data{
		Train:       Samples{X: ds.Train.X, N: ds.Train.N, Dim: ds.Train.Dim},
		Test:        Samples{X: ds.Test.X, N: ds.Test.N, Dim: ds.Test.Dim},
		TrainLabels: ds.Train.Labels,
		TestLabels:  ds.Test.Labels,
		Rows:        ds.Train.Rows,
		Cols:        ds.Train.Cols,
		Source:      ds.Source,
		Embedded:    ds.Embedded,
	}
	if ds.Embedded {
		d.Notice = dataset.Notice()
	}
	return d, nil
}

// SaveReconstructions writes a PNG of the first n samples of s (top row)
// above the model's reconstructions of them (bottom row), like the figure of
// the article caetrain started from.
func (e *Evaluator) SaveReconstructions(path string, s Samples, rows, cols, n int) error {
	n = min(n, s.N)
	if n == 0 {
		return fmt.Errorf("engine: no samples to draw")
	}
	if rows*cols != s.Dim {
		return fmt.Errorf("engine: %d×%d images do not match %d values per sample", rows, cols, s.Dim)
	}
	rec, err := e.Reconstruct(s, n)
	if err != nil {
		return err
	}
	grid := [][][]float32{make([][]float32, n), make([][]float32, n)}
	for i := 0; i < n; i++ {
		grid[0][i] = s.Row(i)
		grid[1][i] = rec[i*s.Dim : (i+1)*s.Dim]
	}
	img, err := picture.Grid(grid, cols, rows, 3)
	if err != nil {
		return err
	}
	return picture.WritePNG(path, img)
}
