// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"path/filepath"

	"github.com/caetrain/caetrain/internal/dataset"
	"github.com/caetrain/caetrain/internal/picture"
)

// Data is a training and a test set with their labels.
type Data struct {
	Train, Test Samples
	// TrainLabels and TestLabels are nil when the data has no labels.
	TrainLabels, TestLabels []uint8
	// Rows, Cols and Channels give the image size when the samples are
	// images (0 otherwise); Layout is "HWC" or "CHW" when Channels > 1.
	Rows, Cols, Channels int
	Layout               string
	Source               string // the file or directory, or "embedded sample"
	Embedded             bool
	Notice               string // for stderr when Embedded: how to get the full set
	// Config says how the data was read and scaled, for config.json: eval
	// and encode read it the same way.
	Config DataConfig
	// Notes say on stderr what was done to the data.
	Notes []string
	close func() error
}

// DataOptions say how OpenData reads and prepares a data file (format,
// array names, CSV header and label column, gray, validation split,
// scaling); see internal/dataset.
type DataOptions = dataset.Options

// Scaling is how the inputs were scaled (see internal/dataset).
type Scaling = dataset.Scaling

// DataFormats lists the formats OpenData reads.
var DataFormats = dataset.FormatNames

// DataStream reads an .npy or CSV/TSV file a chunk of rows at a time, each
// row assigned to its split as OpenData assigns it and scaled with a given
// scaling (see internal/dataset.Stream).
type DataStream = dataset.Stream

// DataChunk is a run of a DataStream's rows.
type DataChunk = dataset.Chunk

// OpenDataStream opens path for reading in chunks; o.Scaling must be set
// (a model's). classes names the label classes in index order, or nil.
func OpenDataStream(path string, o DataOptions, classes []string) (*DataStream, error) {
	return dataset.OpenStream(path, o, classes)
}

// Streamable reports whether data in format can be read in chunks.
func Streamable(format string) bool {
	return format == dataset.FormatNPY || format == dataset.FormatCSV || format == dataset.FormatTSV
}

// DetectDataFormat returns the format of path from its name, or of a
// directory from its files.
func DetectDataFormat(path string) (string, error) { return dataset.DetectFormat(path) }

// ParseImageSize parses --image-size's "WIDTHxHEIGHT".
func ParseImageSize(s string) (w, h int, err error) { return dataset.ParseImageSize(s) }

// ErrUnknownDataFormat is wrapped by OpenData's error when the format
// cannot be told from the path and --format was not given.
var ErrUnknownDataFormat = dataset.ErrUnknownFormat

// ErrDataTooLarge is wrapped by OpenData's error when the data will not
// fit in the available memory.
var ErrDataTooLarge = dataset.ErrTooLarge

// DataConfig records in config.json how the data was read, so that eval
// and encode read and scale theirs the same way.
type DataConfig struct {
	Path      string   `json:"path,omitempty"`
	Format    string   `json:"format"`
	XKey      string   `json:"x_key,omitempty"`
	YKey      string   `json:"y_key,omitempty"`
	Header    string   `json:"header,omitempty"`
	LabelCol  string   `json:"label_col,omitempty"`
	Gray      bool     `json:"gray,omitempty"`
	ImageSize string   `json:"image_size,omitempty"`
	SkipBad   bool     `json:"skip_bad,omitempty"`
	ValSplit  float64  `json:"val_split,omitempty"`
	ValSeed   uint64   `json:"val_seed,omitempty"`
	TestFrom  string   `json:"test_from"`
	Scaling   *Scaling `json:"scaling,omitempty"`
	Rows      int      `json:"rows,omitempty"`
	Cols      int      `json:"cols,omitempty"`
	Channels  int      `json:"channels,omitempty"`
	Classes   []string `json:"classes,omitempty"`
}

// Options returns the options that read the data again as it was read,
// with its scaling.
func (c DataConfig) Options() DataOptions {
	return DataOptions{
		Format: c.Format, XKey: c.XKey, YKey: c.YKey, Header: c.Header, LabelCol: c.LabelCol,
		Gray: c.Gray, ValSplit: c.ValSplit, Seed: c.ValSeed, Scaling: c.Scaling,
		ImageSize: c.ImageSize, SkipBad: c.SkipBad,
	}
}

// Labeled reports whether the data has labels.
func (d *Data) Labeled() bool { return d.TrainLabels != nil }

// IsImage reports whether the samples are images of a known size.
func (d *Data) IsImage() bool {
	return d.Rows > 0 && d.Cols > 0 && d.Rows*d.Cols*max(d.Channels, 1) == d.Train.Dim
}

// Close releases memory-mapped data files; d's samples must not be used
// after.
func (d *Data) Close() error {
	if d == nil || d.close == nil {
		return nil
	}
	return d.close()
}

// LoadData loads Fashion-MNIST (or MNIST, same format) from, in order: dir
// if non-empty, $CAETRAIN_DATA, /usr/share/datasets/fashion-mnist, or the
// sample embedded in the binary.
func LoadData(dir string) (*Data, error) {
	return OpenData(dir, DataOptions{})
}

// OpenData reads the data at path, a file or a directory in one of
// DataFormats (detected from the name unless o.Format says), holds out a
// test split when it has none, and scales it. An empty path resolves as
// LoadData does.
func OpenData(path string, o DataOptions) (*Data, error) {
	ds, err := dataset.Open(path, o)
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
		Channels:    ds.Train.Channels,
		Layout:      ds.Train.Layout,
		Source:      ds.Source,
		Embedded:    ds.Embedded,
		Notes:       ds.Notes,
		close:       ds.Close,
	}
	if ds.Embedded {
		d.Notice = dataset.Notice()
	}
	d.Config = DataConfig{
		Format: ds.Format, XKey: o.XKey, YKey: o.YKey, Header: o.Header, LabelCol: o.LabelCol, Gray: o.Gray,
		ImageSize: o.ImageSize, SkipBad: o.SkipBad,
		TestFrom: ds.TestFrom, Scaling: ds.Scaling, Rows: d.Rows, Cols: d.Cols, Channels: d.Channels, Classes: ds.Classes,
	}
	if !ds.Embedded {
		d.Config.Path = ds.Source
		if abs, err := filepath.Abs(ds.Source); err == nil {
			d.Config.Path = abs
		}
	}
	if ds.Format != dataset.FormatCSV && ds.Format != dataset.FormatTSV {
		d.Config.Header, d.Config.LabelCol = "", ""
	}
	if ds.TestFrom != "file" {
		d.Config.ValSplit, d.Config.ValSeed = o.ValSplit, o.Seed
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
	return e.SaveReconstructionsOf(path, s.X, rec, rows, cols, n)
}

// SaveReconstructionsOf draws n rows×cols images of x (top row) above
// those of rec (bottom row).
func (e *Evaluator) SaveReconstructionsOf(path string, x, rec []float32, rows, cols, n int) error {
	dim := rows * cols
	if len(x) < n*dim || len(rec) < n*dim {
		return fmt.Errorf("engine: %d images of %d×%d need %d values, have %d and %d", n, rows, cols, n*dim, len(x), len(rec))
	}
	grid := [][][]float32{make([][]float32, n), make([][]float32, n)}
	for i := 0; i < n; i++ {
		grid[0][i] = x[i*dim : (i+1)*dim]
		grid[1][i] = rec[i*dim : (i+1)*dim]
	}
	img, err := picture.Grid(grid, cols, rows, 3)
	if err != nil {
		return err
	}
	return picture.WritePNG(path, img)
}

// SaveColorReconstructionsOf writes a PNG of n color images of x (top row)
// above their reconstructions rec, each rows×cols pixels of c ≥ 3
// channels, channel-first when chw, else channel-last
// (picture.GridColor).
func (e *Evaluator) SaveColorReconstructionsOf(path string, x, rec []float32, rows, cols, c, n int, chw bool) error {
	dim := rows * cols * c
	if len(x) < n*dim || len(rec) < n*dim {
		return fmt.Errorf("engine: %d images of %d×%d×%d need %d values, have %d and %d", n, rows, cols, c, n*dim, len(x), len(rec))
	}
	grid := [][][]float32{make([][]float32, n), make([][]float32, n)}
	for i := 0; i < n; i++ {
		grid[0][i] = x[i*dim : (i+1)*dim]
		grid[1][i] = rec[i*dim : (i+1)*dim]
	}
	img, err := picture.GridColor(grid, cols, rows, c, 3, chw)
	if err != nil {
		return err
	}
	return picture.WritePNG(path, img)
}
