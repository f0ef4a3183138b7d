// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/npy"
)

var update = flag.Bool("update", false, "rewrite the fixtures in testdata")

// npyFile builds an .npy file as np.save writes it (format 1.0, the dict
// padded to 64 bytes).
func npyFile(descr string, shape []int, data []byte) []byte {
	var b bytes.Buffer
	if err := npy.Write(&b, descr, shape, data); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func f32s(v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func i64s(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func npzFile(t *testing.T, arrays ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(arrays); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: arrays[i].(string) + ".npy", Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(arrays[i+1].([]byte))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ramp returns n rows of d values, row i holding i*d, i*d+1, ….
func ramp(n, d int) []float32 {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(i)
	}
	return x
}

func put(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture returns the path of a committed file in testdata, writing it
// first with -update.
func fixture(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestOpenFormats(t *testing.T) {
	u8 := make([]byte, 6*2*3)
	for i := range u8 {
		u8[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name             string
		path             func(t *testing.T) string
		o                Options
		trainN, testN    int
		dim, rows, cols  int
		trainLabels      []uint8
		testLabels       []uint8
		classes          []string
		testFrom, scale  string
		firstTrainValues []float32
	}{
		{
			name: "npy float32 in [0,1], held out",
			path: func(t *testing.T) string {
				return fixture(t, "rows.npy", npyFile("<f4", []int{10, 3}, f32s(slices.Repeat([]float32{0, .5, 1}, 10))))
			},
			o:      Options{ValSplit: 0.2, Seed: 1},
			trainN: 8, testN: 2, dim: 3, testFrom: "val-split 0.2 seed 1", scale: ScaleNone,
			firstTrainValues: []float32{0, .5, 1},
		},
		{
			name: "npz as Keras saves mnist: uint8 images, both splits, labels",
			path: func(t *testing.T) string {
				return fixture(t, "keras.npz", npzFile(t,
					"x_train", npyFile("|u1", []int{4, 2, 3}, u8[:24]),
					"y_train", npyFile("<i8", []int{4}, i64s(0, 1, 2, 1)),
					"x_test", npyFile("|u1", []int{2, 2, 3}, u8[24:]),
					"y_test", npyFile("|u1", []int{2, 1}, []byte{2, 0})))
			},
			trainN: 4, testN: 2, dim: 6, rows: 2, cols: 3, testFrom: "file", scale: ScaleBytes,
			trainLabels: []uint8{0, 1, 2, 1}, testLabels: []uint8{2, 0},
			firstTrainValues: []float32{0, 7. / 255, 14. / 255},
		},
		{
			name: "npz x/y, labels renumbered",
			path: func(t *testing.T) string {
				return put(t, "xy.npz", npzFile(t,
					"x", npyFile("<f4", []int{4, 2}, f32s(ramp(4, 2))),
					"y", npyFile("<i4", []int{4}, []byte{0xf6, 0xff, 0xff, 0xff, 7, 0, 0, 0, 0xf6, 0xff, 0xff, 0xff, 0, 1, 0, 0})))
			},
			o:      Options{ValSplit: 0.25, Seed: 3, Scale: ScaleMinMax},
			trainN: 3, testN: 1, dim: 2, testFrom: "val-split 0.25 seed 3", scale: ScaleMinMax,
			classes: []string{"-10", "7", "256"},
		},
		{
			name: "npz with --x-key and --y-key",
			path: func(t *testing.T) string {
				return put(t, "keys.npz", npzFile(t,
					"feats", npyFile("<f8", []int{2, 2}, make([]byte, 32)),
					"cls", npyFile("<i8", []int{2}, i64s(1, 0))))
			},
			o:      Options{XKey: "feats", YKey: "cls", ValSplit: 0.5, Scale: ScaleNone},
			trainN: 1, testN: 1, dim: 2, testFrom: "val-split 0.5 seed 0", scale: ScaleNone,
		},
		{
			name: "csv with header and string labels",
			path: func(t *testing.T) string {
				return fixture(t, "sensors.csv", []byte("temp,state,hum\n20.5,ok,40\n21,fault,41\n19.5,ok,39\n22,ok,45\n"))
			},
			o:      Options{LabelCol: "state", ValSplit: 0.25, Seed: 2},
			trainN: 3, testN: 1, dim: 2, testFrom: "val-split 0.25 seed 2", scale: ScaleMinMax,
			classes: []string{"fault", "ok"},
		},
		{
			name:   "tsv without header, standard scaling",
			path:   func(t *testing.T) string { return put(t, "a.tsv", []byte("1\t2\n3\t4\n5\t6\n7\t8\n")) },
			o:      Options{ValSplit: 0.25, Seed: 2, Scale: ScaleStandard},
			trainN: 3, testN: 1, dim: 2, testFrom: "val-split 0.25 seed 2", scale: ScaleStandard,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(tc.path(t), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			tr, te := d.Train, d.Test
			if tr.N != tc.trainN || te.N != tc.testN || tr.Dim != tc.dim || te.Dim != tc.dim || tr.Rows != tc.rows || tr.Cols != tc.cols {
				t.Errorf("got train %d test %d dim %d/%d image %d×%d, want %d %d %d %d×%d", tr.N, te.N, tr.Dim, te.Dim, tr.Rows, tr.Cols, tc.trainN, tc.testN, tc.dim, tc.rows, tc.cols)
			}
			if len(tr.X) != tr.N*tr.Dim || len(te.X) != te.N*te.Dim {
				t.Errorf("len(X) %d and %d for %d and %d rows of %d", len(tr.X), len(te.X), tr.N, te.N, tr.Dim)
			}
			if d.TestFrom != tc.testFrom || d.Scaling.Kind != tc.scale {
				t.Errorf("test from %q scaling %q, want %q %q", d.TestFrom, d.Scaling.Kind, tc.testFrom, tc.scale)
			}
			if tc.trainLabels != nil && (!reflect.DeepEqual(tr.Labels, tc.trainLabels) || !reflect.DeepEqual(te.Labels, tc.testLabels)) {
				t.Errorf("labels %v %v, want %v %v", tr.Labels, te.Labels, tc.trainLabels, tc.testLabels)
			}
			if !reflect.DeepEqual(d.Classes, tc.classes) {
				t.Errorf("classes %q, want %q", d.Classes, tc.classes)
			}
			if tc.firstTrainValues != nil && !reflect.DeepEqual(tr.X[:len(tc.firstTrainValues)], tc.firstTrainValues) {
				t.Errorf("first values %v, want %v", tr.X[:len(tc.firstTrainValues)], tc.firstTrainValues)
			}
			if (tc.classes != nil || tc.trainLabels != nil) && (len(tr.Labels) != tr.N || len(te.Labels) != te.N) {
				t.Errorf("%d and %d labels for %d and %d rows", len(tr.Labels), len(te.Labels), tr.N, te.N)
			}
			switch tc.scale {
			case ScaleMinMax, ScaleBytes:
				for _, s := range []Split{tr, te} {
					if lo, hi := s.Range(); lo < 0 || hi > 1 {
						t.Errorf("values range over [%g, %g] after %s", lo, hi, tc.scale)
					}
				}
			}
		})
	}
}

// TestHoldOut: the held-out split is a seeded random subset of the rows,
// each row intact and with its label, the same for the same seed; every
// row lands in exactly one split, and each split keeps the file's order.
func TestHoldOut(t *testing.T) {
	const n, dim = 50, 3
	x := ramp(n, dim)
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(i % 5)
	}
	path := put(t, "a.npz", npzFile(t, "x", npyFile("<f4", []int{n, dim}, f32s(x)), "y", npyFile("<i8", []int{n}, i64s(labels...))))
	split := func(seed uint64) ([]int, []int) {
		d, err := Open(path, Options{ValSplit: 0.2, Seed: seed, Scale: ScaleNone})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		rows := func(s Split) []int {
			var r []int
			for i := range s.N {
				row := s.X[i*dim : (i+1)*dim]
				k := int(row[0]) / dim
				if row[1] != row[0]+1 || row[2] != row[0]+2 || int(row[0])%dim != 0 || s.Labels[i] != uint8(k%5) {
					t.Fatalf("row %d is %v with label %d: not an original row with its label", i, row, s.Labels[i])
				}
				r = append(r, k)
			}
			return r
		}
		return rows(d.Train), rows(d.Test)
	}
	tr1, te1 := split(7)
	tr2, te2 := split(7)
	_, te3 := split(8)
	if len(te1) != 10 || len(tr1) != 40 {
		t.Fatalf("train %d test %d, want 40 10", len(tr1), len(te1))
	}
	if !slices.IsSorted(tr1) || !slices.IsSorted(te1) {
		t.Errorf("the splits are not in the file's order: %v, %v", tr1, te1)
	}
	if !reflect.DeepEqual(te1, te2) || !reflect.DeepEqual(tr1, tr2) {
		t.Errorf("seed 7 gave two splits: %v and %v", te1, te2)
	}
	if reflect.DeepEqual(te1, te3) {
		t.Errorf("seeds 7 and 8 gave the same test rows %v", te1)
	}
	all := slices.Sorted(slices.Values(slices.Concat(tr1, te1)))
	for i, k := range all {
		if k != i {
			t.Fatalf("rows of the two splits, sorted: %v; want 0..%d once each", all, n-1)
		}
	}
}

// TestScalingFromTrainOnly: the statistics come from the training split,
// and applying a saved Scaling to the same file gives the same values.
func TestScalingFromTrainOnly(t *testing.T) {
	// Two features; the last row, 100, is the only one outside 0..9.
	x := []float32{0, 0, 9, 18, 3, 6, 100, 200}
	path := put(t, "a.npz", npzFile(t,
		"x_train", npyFile("<f4", []int{3, 2}, f32s(x[:6])),
		"x_test", npyFile("<f4", []int{1, 2}, f32s(x[6:]))))
	for _, tc := range []struct {
		kind         string
		offset, mult []float32
		test         []float32
	}{
		{ScaleMinMax, []float32{0, 0}, []float32{1. / 9, 1. / 18}, []float32{1, 1}}, // test clipped
		{ScaleStandard, []float32{4, 8}, []float32{float32(1 / math.Sqrt(14)), float32(1 / math.Sqrt(56))}, []float32{float32(96 / math.Sqrt(14)), float32(192 / math.Sqrt(56))}},
		{ScaleNone, nil, nil, []float32{100, 200}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			d, err := Open(path, Options{Scale: tc.kind})
			if err != nil {
				t.Fatal(err)
			}
			sc := d.Scaling
			if !approx(sc.Offset, tc.offset) || !approx(sc.Mult, tc.mult) || !approx(d.Test.X, tc.test) {
				t.Errorf("offset %v mult %v test %v, want %v %v %v", sc.Offset, sc.Mult, d.Test.X, tc.offset, tc.mult, tc.test)
			}
			train := slices.Clone(d.Train.X)
			d.Close()
			d2, err := Open(path, Options{Scaling: sc, Scale: ScaleNone})
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			if !reflect.DeepEqual(d2.Train.X, train) {
				t.Errorf("saved scaling gives %v, the fitted one %v", d2.Train.X, train)
			}
		})
	}
}

// approx compares within 1e-6 relative (float32 rounding of the
// statistics).
func approx(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6*math.Max(1, math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}

func TestOpenErrors(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name  string
		file  string
		b     []byte
		o     Options
		want  string
		large bool
	}{
		{name: "nan", file: "a.npy", b: npyFile("<f4", []int{2, 2}, f32s([]float32{1, 2, 3, nan})), want: "a.npy: sample 1, feature 1 is NaN; the data must be finite"},
		{name: "1-d data", file: "a.npy", b: npyFile("<f4", []int{4}, f32s(ramp(4, 1))), want: "shape [4]: want samples along the first axis"},
		{name: "empty", file: "a.npy", b: npyFile("<f4", []int{0, 4}, nil), want: "holds no values"},
		{name: "int data", file: "a.npy", b: npyFile("<i8", []int{1, 2}, i64s(1, 2)), want: "holds integers; the data must be uint8, float32 or float64"},
		{name: "no x_train", file: "a.npz", b: npzFile(t, "data", npyFile("<f4", []int{1, 1}, f32s([]float32{1}))), want: `no array "x_train"; it holds data (name the data with --x-key`},
		{name: "labels too few", file: "a.npz", b: npzFile(t, "x", npyFile("<f4", []int{3, 1}, f32s(ramp(3, 1))), "y", npyFile("<i8", []int{2}, i64s(1, 2))), want: "a.npz[y]: labels of shape [2] do not match 3 samples"},
		{name: "float labels", file: "a.npz", b: npzFile(t, "x", npyFile("<f4", []int{2, 1}, f32s(ramp(2, 1))), "y", npyFile("<f4", []int{2}, f32s(ramp(2, 1)))), want: "a.npz[y]: labels must be integers, not <f4"},
		{name: "splits differ", file: "a.npz", b: npzFile(t, "x_train", npyFile("<f4", []int{2, 2}, f32s(ramp(2, 2))), "x_test", npyFile("<f4", []int{1, 3}, f32s(ramp(1, 3)))), want: "the splits must have the same dtype kind and sample shape"},
		{name: "too few rows to hold out", file: "a.npy", b: npyFile("<f4", []int{1, 2}, f32s(ramp(1, 2))), o: Options{ValSplit: 0.1}, want: "has 1 samples: too few to hold out"},
		{name: "csv bad cell", file: "a.csv", b: []byte("a,b\n1,2\n3,?\n"), want: `a.csv:3:3: column 1 ("b"): "?" is not a number`},
		{name: "unknown extension", file: "a.parquet", b: []byte("x"), want: `cannot tell the format from the name ".parquet"; give --format`},
		{name: "too large", file: "a.npy", b: npyFile("<f4", []int{4, 4}, f32s(ramp(4, 4))), o: Options{MemAvailable: func() (int64, bool) { return 10, true }},
			want: "needs 0.00 GB as float32 but only 0.00 GB is available", large: true},
		{name: "npz too large", file: "a.npz", b: npzFile(t, "x_train", npyFile("|u1", []int{4, 4}, make([]byte, 16)), "x_test", npyFile("<f8", []int{1, 4}, make([]byte, 32))),
			o: Options{MemAvailable: func() (int64, bool) { return 95, true }}, want: "x_train (4, 4) of |u1 and x_test (1, 4) of <f8 needs 0.00 GB", large: true},
		{name: "csv too large", file: "a.csv", b: []byte("1,2,3\n4,5,6\n"), o: Options{MemAvailable: func() (int64, bool) { return 10, true }},
			want: "about 6 values, estimated from its first 12 bytes", large: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := put(t, tc.file, tc.b)
			if tc.o.ValSplit == 0 {
				tc.o.ValSplit = 0.5
			}
			d, err := Open(path, tc.o)
			if err == nil {
				d.Close()
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want an error naming %s and containing %q", err, path, tc.want)
			}
			if errors.Is(err, ErrTooLarge) != tc.large {
				t.Errorf("errors.Is(err, ErrTooLarge) = %v, want %v", !tc.large, tc.large)
			}
		})
	}
}

// TestIgnoredOptions: options another format would use are named in a
// note, not silently dropped.
func TestIgnoredOptions(t *testing.T) {
	path := put(t, "a.npy", npyFile("<f4", []int{4, 2}, f32s(ramp(4, 2))))
	d, err := Open(path, Options{LabelCol: "y", Gray: true, ValSplit: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if want := "--label-col, --gray: ignored for npy data"; !slices.Contains(d.Notes, want) {
		t.Errorf("notes %q lack %q", d.Notes, want)
	}
}
