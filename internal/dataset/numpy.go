// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"fmt"
	"strings"

	"github.com/caetrain/caetrain/internal/npy"
)

// readNumPy reads an .npy array (N×D, N×H×W or N×H×W×C; no test split,
// no labels) or an .npz archive with x_train [and x_test, y_train, y_test]
// as Keras's datasets come, or the arrays named by --x-key and --y-key
// (then without a test split).
func readNumPy(path, format string, o *Options) (*raw, error) {
	r := &raw{}
	if format == FormatNPY {
		h, err := npy.ReadFileHeader(path)
		if err != nil {
			return nil, err
		}
		if err := o.checkHeader(path, h); err != nil {
			return nil, err
		}
		a, err := npy.Open(path)
		if err != nil {
			return nil, err
		}
		r.closers = append(r.closers, a.Close)
		if r.train, r.u8, err = samples(a, o); err != nil {
			return r, err
		}
		r.trainName = path
		return r, nil
	}
	ar, err := npy.OpenArchive(path)
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	xTrain, yTrain, xTest, yTest := "x_train", "y_train", "x_test", "y_test"
	if o.XKey != "" {
		xTrain, xTest = o.XKey, ""
	} else if !ar.Has(xTrain) && ar.Has("x") {
		xTrain, xTest = "x", ""
	}
	if o.YKey != "" {
		yTrain, yTest = o.YKey, ""
	} else if o.XKey != "" || xTrain == "x" {
		yTrain = "y"
	}
	if !ar.Has(xTrain) {
		return nil, fmt.Errorf("%s: no array %q; it holds %s (name the data with --x-key and the labels with --y-key)", path, xTrain, strings.Join(ar.Keys(), ", "))
	}
	var need int64
	var shapes []string
	for _, k := range []string{xTrain, xTest} {
		if k == "" || !ar.Has(k) {
			continue
		}
		h, err := ar.Header(k)
		if err != nil {
			return nil, err
		}
		need += headerBytes(h)
		shapes = append(shapes, fmt.Sprintf("%s %s of %s", k, h.ShapeString(), h.Descr))
	}
	if err := o.checkFits(path, need, strings.Join(shapes, " and ")); err != nil {
		return nil, err
	}
	x, err := ar.Read(xTrain)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, x.Close)
	r.trainName = x.Name
	if r.train, r.u8, err = samples(x, o); err != nil {
		return r, err
	}
	if xTest != "" && ar.Has(xTest) {
		t, err := ar.Read(xTest)
		if err != nil {
			return r, err
		}
		r.closers = append(r.closers, t.Close)
		var u8 bool
		if r.test, u8, err = samples(t, o); err != nil {
			return r, err
		}
		if u8 != r.u8 || r.test.Dim != r.train.Dim {
			return r, fmt.Errorf("%s: %s is %s %v but %s is %s %v; the splits must have the same dtype kind and sample shape", path, xTrain, x.Descr, x.Shape, xTest, t.Descr, t.Shape)
		}
		r.hasTest, r.testName = true, t.Name
	}
	for _, l := range []struct {
		key  string
		n    int
		dst  *[]int64
		want bool
	}{{yTrain, r.train.N, &r.trainLabels, o.YKey != ""}, {yTest, r.test.N, &r.testLabels, false}} {
		if l.key == "" || !ar.Has(l.key) || (l.dst == &r.testLabels && !r.hasTest) {
			if l.want {
				return r, fmt.Errorf("%s: no array %q (--y-key); it holds %s", path, l.key, strings.Join(ar.Keys(), ", "))
			}
			continue
		}
		y, err := ar.Read(l.key)
		if err != nil {
			return r, err
		}
		if y.I64 == nil {
			if y.U8 == nil {
				return r, fmt.Errorf("%s: labels must be integers, not %s", y.Name, y.Descr)
			}
			y.I64 = make([]int64, len(y.U8))
			for i, v := range y.U8 {
				y.I64[i] = int64(v)
			}
		}
		if len(y.Shape) == 2 && y.Shape[1] == 1 {
			y.Shape = y.Shape[:1]
		}
		if len(y.Shape) != 1 || y.Shape[0] != l.n {
			return r, fmt.Errorf("%s: labels of shape %v do not match %d samples (want shape (%d,))", y.Name, y.Shape, l.n, l.n)
		}
		*l.dst = y.I64
	}
	return r, nil
}

// samples makes a Split of an array whose first axis is the samples;
// uint8 arrays are divided by 255. A 3-d array is N×H×W images, a 4-d one
// N×H×W×C with C of 1, 3 or 4 (else N×C×H×W when the second axis is).
func samples(a *npy.Array, o *Options) (Split, bool, error) {
	if len(a.Shape) < 2 {
		return Split{}, false, fmt.Errorf("%s: shape %v: want samples along the first axis, e.g. (N, D) or (N, H, W)", a.Name, a.Shape)
	}
	s := Split{N: a.Shape[0], Dim: 1}
	for _, d := range a.Shape[1:] {
		s.Dim *= d
	}
	if s.N == 0 || s.Dim == 0 {
		return s, false, fmt.Errorf("%s: shape %v holds no values", a.Name, a.Shape)
	}
	switch sh := a.Shape; len(sh) {
	case 3:
		s.Rows, s.Cols, s.Channels = sh[1], sh[2], 1
	case 4:
		switch {
		case sh[3] == 1 || sh[3] == 3 || sh[3] == 4:
			s.Rows, s.Cols, s.Channels, s.Layout = sh[1], sh[2], sh[3], "HWC"
		case sh[1] == 1 || sh[1] == 3 || sh[1] == 4:
			s.Rows, s.Cols, s.Channels, s.Layout = sh[2], sh[3], sh[1], "CHW"
		}
	}
	if a.U8 != nil {
		s.X = bytesToUnit(a.U8)
		a.U8 = nil
		return s, true, nil
	}
	if a.F32 == nil {
		return s, false, fmt.Errorf("%s: dtype %s holds integers; the data must be uint8, float32 or float64", a.Name, a.Descr)
	}
	s.X = a.F32
	return s, false, nil
}

// checkHeader refuses an array that will not fit in memory as float32
// (with its bytes as well, for uint8 ones, which are converted).
func (o *Options) checkHeader(name string, h npy.Header) error {
	return o.checkFits(name, headerBytes(h), fmt.Sprintf("shape %s of %s", h.ShapeString(), h.Descr))
}

func headerBytes(h npy.Header) int64 {
	n := h.Elems()
	if h.Descr == "|u1" {
		return 5 * n
	}
	return 4 * n
}

// bytesToUnit returns b/255 as float32.
func bytesToUnit(b []uint8) []float32 {
	x := make([]float32, len(b))
	for i, v := range b {
		x[i] = float32(v) / 255
	}
	return x
}
