// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestStreamMatchesOpen: reading a file in chunks puts every row, scaled
// the same, with the same label, at the same place of the same split as
// Open does, for each dtype and for CSV, with chunks that do not divide
// the rows.
func TestStreamMatchesOpen(t *testing.T) {
	const n, dim = 37, 3
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(math.Sin(float64(i))*5 + float64(i%dim))
	}
	var f64 []byte
	u8 := make([]byte, n*dim)
	for i, v := range x {
		f64 = binary.LittleEndian.AppendUint64(f64, math.Float64bits(float64(v)))
		u8[i] = byte(i * 13)
	}
	var csv strings.Builder
	csv.WriteString("a,b,kind,c\n")
	for i := range n {
		fmt.Fprintf(&csv, "%g,%g,%s,%g\n", x[i*dim], x[i*dim+1], []string{"red", "green", "blue"}[i%3], x[i*dim+2])
	}
	for _, tc := range []struct {
		name, file string
		b          []byte
		o          Options
	}{
		{"float32 npy, minmax", "a.npy", npyFile("<f4", []int{n, dim}, f32s(x)), Options{Scale: ScaleMinMax}},
		{"float64 npy, standard", "a.npy", npyFile("<f8", []int{n, dim}, f64), Options{Scale: ScaleStandard}},
		{"uint8 npy", "a.npy", npyFile("|u1", []int{n, 1, dim}, u8), Options{}},
		{"csv with class names", "a.csv", []byte(csv.String()), Options{LabelCol: "kind", Scale: ScaleMinMax}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := put(t, tc.file, tc.b)
			tc.o.ValSplit, tc.o.Seed = 0.3, 9
			d, err := Open(path, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			so := tc.o
			so.Scaling = d.Scaling
			s, err := OpenStream(path, so, d.Classes)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.TrainN != d.Train.N || s.TestN != d.Test.N || s.Dim != dim || s.Labeled != (d.Train.Labels != nil) {
				t.Fatalf("stream: %d+%d rows of %d labeled %v; Open: %d+%d of %d", s.TrainN, s.TestN, s.Dim, s.Labeled, d.Train.N, d.Test.N, d.Train.Dim)
			}
			got := [2][]float32{make([]float32, s.TrainN*dim), make([]float32, s.TestN*dim)}
			lab := [2][]uint8{make([]uint8, s.TrainN), make([]uint8, s.TestN)}
			var c *Chunk
			for {
				c, err = s.Next(5, c)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for i := range c.N {
					sp := 0
					if c.Test[i] {
						sp = 1
					}
					copy(got[sp][c.Index[i]*dim:], c.X[i*dim:(i+1)*dim])
					if c.Labels != nil {
						lab[sp][c.Index[i]] = c.Labels[i]
					}
				}
			}
			if !reflect.DeepEqual(got[0], d.Train.X) || !reflect.DeepEqual(got[1], d.Test.X) {
				t.Errorf("streamed rows differ from Open's:\ntrain %v\nwant  %v\ntest %v\nwant %v", got[0], d.Train.X, got[1], d.Test.X)
			}
			if d.Train.Labels != nil && (!reflect.DeepEqual(lab[0], d.Train.Labels) || !reflect.DeepEqual(lab[1], d.Test.Labels)) {
				t.Errorf("streamed labels %v %v, Open's %v %v", lab[0], lab[1], d.Train.Labels, d.Test.Labels)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	nan := npyFile("<f4", []int{3, 2}, f32s([]float32{1, 2, 3, float32(math.NaN()), 5, 6}))
	for _, tc := range []struct {
		name, file string
		b          []byte
		o          Options
		classes    []string
		want       string
	}{
		{"nan", "a.npy", nan, Options{}, nil, "a.npy: sample 1, feature 1 is NaN"},
		{"bad cell", "a.csv", []byte("1,2\n3,4\n5,x\n"), Options{}, nil, `a.csv:3:3: column 1: "x" is not a number`},
		{"unknown class", "a.csv", []byte("1,cat\n2,dog\n3,emu\n"), Options{LabelCol: "1"}, []string{"cat", "dog"}, `a.csv: sample 2: label "emu" is not one of the model's classes`},
		{"width", "a.npy", npyFile("<f4", []int{2, 3}, f32s(ramp(2, 3))), Options{Scaling: &Scaling{Kind: ScaleMinMax, Offset: []float32{0}, Mult: []float32{1}}}, nil, "statistics for 1 features, the data has 3"},
		{"not streamable", "a.npz", []byte("x"), Options{}, nil, "cannot be streamed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := put(t, tc.file, tc.b)
			tc.o.ValSplit = 0.4
			if tc.o.Scaling == nil {
				tc.o.Scaling = &Scaling{Kind: ScaleNone}
			}
			s, err := OpenStream(path, tc.o, tc.classes)
			for err == nil {
				_, err = s.Next(1, nil)
			}
			if s != nil {
				s.Close()
			}
			if errors.Is(err, io.EOF) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
