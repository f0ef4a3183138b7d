// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/caetrain/caetrain/internal/npy"
	"github.com/caetrain/caetrain/internal/table"
)

// Stream reads an .npy or CSV/TSV file a chunk of rows at a time, so that
// eval and encode can go through data larger than memory. It assigns each
// row to the split Open would have put it in (the same seeded hold-out) at
// the same position (the file's order within each split), and scales it
// with a given Scaling (a model's).
type Stream struct {
	Source                string
	Dim, N, TrainN, TestN int
	Rows, Cols, Channels  int
	Layout                string
	Labeled               bool
	Notes                 []string
	scaling               *Scaling
	bytes                 bool  // divide by 255 (uint8 .npy)
	test                  []int // the held-out rows, in order
	row, tested           int   // the next row; held-out rows before it
	read                  func(max int, x []float32) ([]float32, []string, int, error)
	classes               map[string]uint8
	closeFn               func() error
	clipped               int
}

// Chunk is a run of consecutive rows of a Stream's file.
type Chunk struct {
	X      []float32 // N rows of Dim values, scaled
	N      int
	Labels []uint8 // nil without labels
	Test   []bool  // whether row i is in the test split
	Index  []int   // row i's position in its split
}

// OpenStream opens path (.npy, .csv or .tsv; format from the name unless
// o.Format says) for reading in chunks. o.Scaling must be set; o.ValSplit
// and o.Seed give the hold-out. classes, when not nil, are the names of
// the label classes in index order (a model's data_config.classes).
func OpenStream(path string, o Options, classes []string) (*Stream, error) {
	if o.Scaling == nil {
		return nil, errors.New("dataset: OpenStream needs the scaling to apply")
	}
	format := o.Format
	if format == "" {
		var err error
		if format, err = DetectFormat(path); err != nil {
			return nil, err
		}
	}
	s := &Stream{Source: path, scaling: o.Scaling}
	switch format {
	case FormatNPY:
		a, err := npy.OpenStream(path)
		if err != nil {
			return nil, err
		}
		s.closeFn = a.Close
		if len(a.Shape) < 2 || a.Shape[0] == 0 || a.Elems() == 0 {
			a.Close()
			return nil, fmt.Errorf("%s: shape %v: want samples along the first axis, e.g. (N, D) or (N, H, W)", path, a.Shape)
		}
		s.N, s.Dim, s.bytes = a.Shape[0], int(a.Elems())/a.Shape[0], a.Bytes()
		switch sh := a.Shape; len(sh) {
		case 3:
			s.Rows, s.Cols, s.Channels = sh[1], sh[2], 1
		case 4:
			if sh[3] == 1 || sh[3] == 3 || sh[3] == 4 {
				s.Rows, s.Cols, s.Channels, s.Layout = sh[1], sh[2], sh[3], "HWC"
			} else if sh[1] == 1 || sh[1] == 3 || sh[1] == 4 {
				s.Rows, s.Cols, s.Channels, s.Layout = sh[2], sh[3], sh[1], "CHW"
			}
		}
		s.read = func(max int, x []float32) ([]float32, []string, int, error) {
			x = x[:0]
			want := max * s.Dim
			if cap(x) < want {
				x = make([]float32, want)
			}
			x = x[:want]
			got := 0
			for got < want {
				n, err := a.Read(x[got:])
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, nil, 0, err
				}
				got += n
			}
			if got == 0 {
				return nil, nil, 0, io.EOF
			}
			return x[:got], nil, got / s.Dim, nil
		}
	case FormatCSV, FormatTSV:
		comma := ','
		if format == FormatTSV {
			comma = '\t'
		}
		topts := table.Options{Comma: comma, Header: o.Header, LabelCol: o.LabelCol}
		open := func() (*table.Reader, *os.File, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, nil, err
			}
			rd, err := table.NewReader(f, path, topts)
			if err != nil {
				f.Close()
				return nil, nil, err
			}
			return rd, f, nil
		}
		// A first pass counts (and checks) the rows.
		rd, f, err := open()
		if err != nil {
			return nil, err
		}
		var buf []float32
		for {
			var n int
			buf, _, n, err = rd.Next(4096, buf[:0], nil)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return nil, err
			}
			s.N += n
		}
		f.Close()
		if rd, f, err = open(); err != nil {
			return nil, err
		}
		s.closeFn = f.Close
		s.Dim = rd.Dim
		s.Labeled = o.LabelCol != ""
		s.read = func(max int, x []float32) ([]float32, []string, int, error) {
			return rd.Next(max, x[:0], nil)
		}
		if s.Labeled && classes != nil {
			s.classes = make(map[string]uint8, len(classes))
			for i, c := range classes {
				s.classes[c] = uint8(i)
			}
		}
	default:
		return nil, fmt.Errorf("%s: format %s cannot be streamed (only .npy and CSV/TSV)", path, format)
	}
	if len(s.scaling.Offset) != 0 && len(s.scaling.Offset) != s.Dim {
		s.Close()
		return nil, fmt.Errorf("%s: the model's %s scaling has statistics for %d features, the data has %d", path, s.scaling.Kind, len(s.scaling.Offset), s.Dim)
	}
	rows, err := holdOutPlan(path, s.N, o.ValSplit, o.Seed)
	if err != nil {
		s.Close()
		return nil, err
	}
	k := len(rows)
	s.test = rows
	s.TrainN, s.TestN = s.N-k, k
	s.Notes = append(s.Notes, fmt.Sprintf("%s has no test split: holding out %d of its %d samples (--val-split %g, seed %d) as the test split; reading it in chunks", path, k, s.N, o.ValSplit, o.Seed))
	return s, nil
}

// Next reads up to max rows; io.EOF after the last.
func (s *Stream) Next(max int, into *Chunk) (*Chunk, error) {
	c := into
	if c == nil {
		c = &Chunk{}
	}
	var labels []string
	var err error
	c.X, labels, c.N, err = s.read(max, c.X)
	if err != nil {
		return nil, err
	}
	for i, v := range c.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: sample %d, feature %d is %v; the data must be finite numbers", s.Source, s.row+i/s.Dim, i%s.Dim, v)
		}
	}
	if s.bytes {
		for i := range c.X {
			c.X[i] /= 255
		}
	}
	s.scaling.apply(c.X, s.Dim)
	if s.scaling.Kind == ScaleMinMax {
		s.clipped += clip(c.X)
	}
	c.Test, c.Index = c.Test[:0], c.Index[:0]
	c.Labels = c.Labels[:0]
	for i := range c.N {
		r := s.row + i
		if s.tested < len(s.test) && s.test[s.tested] == r {
			c.Test = append(c.Test, true)
			c.Index = append(c.Index, s.tested)
			s.tested++
		} else {
			c.Test = append(c.Test, false)
			c.Index = append(c.Index, r-s.tested)
		}
	}
	if s.Labeled {
		for i, l := range labels {
			idx, err := s.label(l)
			if err != nil {
				return nil, fmt.Errorf("%s: sample %d: %v", s.Source, s.row+i, err)
			}
			c.Labels = append(c.Labels, idx)
		}
	} else {
		c.Labels = nil
	}
	s.row += c.N
	return c, nil
}

// label maps a label as written to its class index, as Open numbers them.
func (s *Stream) label(l string) (uint8, error) {
	if s.classes != nil {
		if i, ok := s.classes[l]; ok {
			return i, nil
		}
		return 0, fmt.Errorf("label %q is not one of the model's classes", l)
	}
	v, err := strconv.Atoi(l)
	if err != nil || v < 0 || v > 255 {
		return 0, fmt.Errorf("label %q is not a class index 0..255 (and the model records no class names)", l)
	}
	return uint8(v), nil
}

// Clipped returns how many values a minmax scaling clipped to [0,1] so far.
func (s *Stream) Clipped() int { return s.clipped }

// Close closes the file.
func (s *Stream) Close() error {
	if s.closeFn == nil {
		return nil
	}
	f := s.closeFn
	s.closeFn = nil
	return f()
}
