// SPDX-License-Identifier: Apache-2.0

package table

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func readAll(src string, o Options) (*Reader, []float32, []string, error) {
	rd, err := NewReader(strings.NewReader(src), "f.csv", o)
	if err != nil {
		return nil, nil, nil, err
	}
	x, labels, _, err := rd.Next(0, nil, nil)
	return rd, x, labels, err
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		o      Options
		names  []string
		dim    int
		x      []float32
		labels []string
		err    string
	}{
		{name: "plain", src: "1,2\n3,4.5\n", dim: 2, x: []float32{1, 2, 3, 4.5}},
		{name: "header detected", src: "a, b\n1, 2\n\n-3e1,4\n", names: []string{"a", "b"}, dim: 2, x: []float32{1, 2, -30, 4}},
		{name: "header forced", src: "1,2\n3,4\n", o: Options{Header: "yes"}, names: []string{"1", "2"}, dim: 2, x: []float32{3, 4}},
		{name: "label by name", src: "x,cls,y\n1,cat,2\n3,dog,4\n", o: Options{LabelCol: "cls"}, names: []string{"x", "cls", "y"}, dim: 2, x: []float32{1, 2, 3, 4}, labels: []string{"cat", "dog"}},
		{name: "label by index, no header", src: "7,1,2\n8,3,4\n", o: Options{LabelCol: "0"}, dim: 2, x: []float32{1, 2, 3, 4}, labels: []string{"7", "8"}},
		{name: "string label by index not a header", src: "cat,1,2\ndog,3,4\n", o: Options{LabelCol: "0"}, dim: 2, x: []float32{1, 2, 3, 4}, labels: []string{"cat", "dog"}},
		{name: "tsv quoted", src: "\"1\"\t2\n3\t4\n", o: Options{Comma: '\t'}, dim: 2, x: []float32{1, 2, 3, 4}},
		{name: "short row", src: "1,2,3\n4,5\n", err: "f.csv:2:3: the row has 2 fields, the first row 3"},
		{name: "long row", src: "a,b\n1,2\n4,5,6\n", err: "f.csv:3:5: the row has 3 fields, the header 2"},
		{name: "not a number", src: "1,2\n3,x4\n", err: `f.csv:2:3: column 1: "x4" is not a number`},
		{name: "not a number, header named", src: "a,b\n1,2\n3,x4\n", err: `f.csv:3:3: column 1 ("b"): "x4" is not a number`},
		{name: "bad first data row", src: "a,b\n1,oops\n", err: `f.csv:2:3: column 1 ("b"): "oops" is not a number`},
		{name: "nan", src: "1,NaN\n", err: `f.csv:1:3: column 1: "NaN" is not a finite float32 number`},
		{name: "too large for float32", src: "1,1e39\n", err: `f.csv:1:3: column 1: "1e39" is not a finite float32 number`},
		{name: "empty field", src: "1,,3\n", err: "f.csv:1:3: column 1: empty field"},
		{name: "bare quote", src: "1,2\n3,4\"x\n", err: `f.csv:2:4: bare " in non-quoted-field`},
		{name: "empty file", src: "", err: "f.csv:1:1: the file holds no rows"},
		{name: "header only", src: "a,b\n", err: "f.csv:2:1: the file holds a header but no data rows"},
		{name: "label name without header", src: "1,2\n", o: Options{LabelCol: "cls"}, err: `f.csv:1:1: --label-col "cls" names a column, but the file has no header row`},
		{name: "label name unknown", src: "a,b\n1,2\n", o: Options{LabelCol: "cls"}, err: `--label-col "cls": no such column in the header (a, b)`},
		{name: "label index out of range", src: "1,2\n", o: Options{LabelCol: "5"}, err: "--label-col 5: the row has 2 fields"},
		{name: "label only", src: "1\n2\n", o: Options{LabelCol: "0"}, err: "no feature columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd, x, labels, err := readAll(tc.src, tc.o)
			if tc.err != "" {
				var te *Error
				if err == nil || !strings.Contains(err.Error(), tc.err) || (!errors.As(err, &te) && !strings.HasPrefix(err.Error(), "--")) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rd.Names, tc.names) || rd.Dim != tc.dim || !reflect.DeepEqual(x, tc.x) || !reflect.DeepEqual(labels, tc.labels) {
				t.Errorf("got names %q dim %d x %v labels %q, want %q %d %v %q", rd.Names, rd.Dim, x, labels, tc.names, tc.dim, tc.x, tc.labels)
			}
		})
	}
}

// TestChunks: Next returns the rows in chunks of at most max, then io.EOF.
func TestChunks(t *testing.T) {
	rd, err := NewReader(strings.NewReader("h\n1\n2\n3\n4\n5\n"), "f.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	var all []float32
	for {
		x, _, n, err := rd.Next(2, nil, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		all = append(all, x...)
	}
	if !reflect.DeepEqual(got, []int{2, 2, 1}) || !reflect.DeepEqual(all, []float32{1, 2, 3, 4, 5}) {
		t.Errorf("chunks %v values %v, want [2 2 1] [1 2 3 4 5]", got, all)
	}
}

// FuzzRead: no input makes the reader panic; what it accepts has Dim
// values per row and a label per row when there is a label column.
func FuzzRead(f *testing.F) {
	f.Add("a,b\n1,2\n3,4\n", "")
	f.Add("1,2,3\n4,5\n", "1")
	f.Add("x,cls\n1,\"c\"\n", "cls")
	f.Add("\"1\n", "")
	f.Fuzz(func(t *testing.T, src, label string) {
		rd, err := NewReader(strings.NewReader(src), "f.csv", Options{LabelCol: label})
		if err != nil {
			return
		}
		x, labels, n, err := rd.Next(0, nil, nil)
		if err != nil {
			return
		}
		if len(x) != n*rd.Dim || (rd.label >= 0 && len(labels) != n) {
			t.Fatalf("%d rows of %d: %d values, %d labels", n, rd.Dim, len(x), len(labels))
		}
	})
}
