// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseDict(t *testing.T) {
	for _, tc := range []struct {
		name, dict string
		want       Header
		err        string
	}{
		{name: "numpy", dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n", want: Header{Descr: "<f4", Shape: []int{3, 4}}},
		{name: "1-d", dict: "{'descr': '|u1', 'fortran_order': False, 'shape': (7,), }", want: Header{Descr: "|u1", Shape: []int{7}}},
		{name: "scalar", dict: "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", want: Header{Descr: "<f8", Shape: []int{}}},
		{name: "keys reordered", dict: `{"shape": (2,3,4), "fortran_order": True, "descr": ">f8"}`, want: Header{Descr: ">f8", Fortran: true, Shape: []int{2, 3, 4}}},
		{name: "python2 long", dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }", want: Header{Descr: "<f4", Shape: []int{3, 4}}},
		{name: "no brace", dict: "'descr': '<f4'", err: "does not start with '{'"},
		{name: "missing shape", dict: "{'descr': '<f4', 'fortran_order': False}", err: `lacks the key "shape"`},
		{name: "twice", dict: "{'descr': '<f4', 'descr': '<f4'}", err: "appears twice"},
		{name: "unknown key", dict: "{'dtype': '<f4'}", err: `unknown key "dtype"`},
		{name: "negative dim", dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", err: "non-negative integers"},
		{name: "overflow", dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (1125899906842624, 1125899906842624), }", err: "more elements than can be addressed"},
		{name: "unterminated", dict: "{'descr': '<f4", err: "unterminated string"},
		{name: "bad bool", dict: "{'fortran_order': maybe}", err: "neither True nor False"},
		{name: "trailing", dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", err: "text after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDict(tc.dict)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   []byte
		shape  []int
		f32    []float32
		u8     []uint8
		i64    []int64
		mapped bool
		err    string
	}{
		{name: "float32 mapped", file: npyBytes("<f4", []int{2, 3}, f32le(1, 2, 3, 4, 5, 6)), shape: []int{2, 3}, f32: []float32{1, 2, 3, 4, 5, 6}, mapped: true},
		{name: "float64 big-endian converted", file: npyBytes(">f8", []int{2, 1, 2}, f64be(0.5, 1, -2, 3)), shape: []int{2, 1, 2}, f32: []float32{0.5, 1, -2, 3}},
		{name: "uint8", file: npyBytes("|u1", []int{2, 2}, []byte{0, 255, 7, 9}), shape: []int{2, 2}, u8: []uint8{0, 255, 7, 9}},
		{name: "int8 labels", file: npyBytes("|i1", []int{3}, []byte{1, 0xff, 9}), shape: []int{3}, i64: []int64{1, -1, 9}},
		{name: "int64 labels", file: npyBytes("<i8", []int{1}, []byte{7, 0, 0, 0, 0, 0, 0, 0}), shape: []int{1}, i64: []int64{7}},
		{name: "bad magic", file: []byte("PK\x03\x04 this is a zip"), err: "not an .npy array"},
		{name: "short", file: []byte("\x93NUM"), err: "shorter than the 8-byte preamble"},
		{name: "bad version", file: []byte("\x93NUMPY\x09\x00\x10\x00"), err: "format version 9.0"},
		{name: "header cut", file: []byte("\x93NUMPY\x01\x00\xff\x00{'descr'"), err: "cut short in the 255-byte header"},
		{name: "data cut", file: npyBytes("<f4", []int{2, 3}, f32le(1, 2, 3)), err: "needs 24 data bytes after the 128-byte header, but the file holds 12"},
		{name: "data extra", file: npyBytes("|u1", []int{2}, []byte{1, 2, 3}), err: "needs 2 data bytes"},
		{name: "complex", file: npyBytes("<c8", []int{1}, make([]byte, 8)), err: `dtype "<c8" is not supported`},
		{name: "object", file: npyBytes("|O", []int{1}, make([]byte, 8)), err: `dtype "|O" is not a plain numeric dtype`},
		{name: "fortran", file: []byte(strings.Replace(string(npyBytes("<f4", []int{2, 2}, f32le(1, 2, 3, 4))), "False", "True ", 1)), err: "Fortran order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "a.npy", tc.file)
			a, err := Open(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got error %v, want one naming %s and containing %q", err, path, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if !reflect.DeepEqual(a.Shape, tc.shape) || a.Mapped != tc.mapped {
				t.Errorf("got shape %v mapped %v, want %v %v", a.Shape, a.Mapped, tc.shape, tc.mapped)
			}
			if !reflect.DeepEqual(a.F32, tc.f32) || !reflect.DeepEqual(a.U8, tc.u8) || !reflect.DeepEqual(a.I64, tc.i64) {
				t.Errorf("got f32 %v u8 %v i64 %v, want %v %v %v", a.F32, a.U8, a.I64, tc.f32, tc.u8, tc.i64)
			}
		})
	}
}

// TestMappedIsPrivate: writing into a mapped array changes neither the
// file nor a second mapping of it.
func TestMappedIsPrivate(t *testing.T) {
	path := writeFile(t, "a.npy", npyBytes("<f4", []int{4}, f32le(1, 2, 3, 4)))
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.F32[0] = 42
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !a.Mapped || !b.Mapped || b.F32[0] != 1 {
		t.Errorf("mapped %v %v, second mapping's first element %v, want true true 1", a.Mapped, b.Mapped, b.F32[0])
	}
}

func TestArchive(t *testing.T) {
	arrays := map[string][]byte{
		"x_train": npyBytes("<f4", []int{2, 2}, f32le(1, 2, 3, 4)),
		"y_train": npyBytes("<i8", []int{2}, []byte{3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}),
		"x_test":  npyBytes("|u1", []int{1, 2}, []byte{5, 6}),
	}
	for _, tc := range []struct {
		name   string
		method uint16
	}{{"savez (stored)", zip.Store}, {"savez_compressed (deflated)", zip.Deflate}} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "a.npz", npzBytes(t, tc.method, arrays, "x_train", "y_train", "x_test"))
			ar, err := OpenArchive(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			if got := ar.Keys(); !reflect.DeepEqual(got, []string{"x_test", "x_train", "y_train"}) {
				t.Errorf("keys %v", got)
			}
			x, err := ar.Read("x_train")
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			if !reflect.DeepEqual(x.F32, []float32{1, 2, 3, 4}) {
				t.Errorf("x_train %v", x.F32)
			}
			y, err := ar.Read("y_train")
			if err != nil || !reflect.DeepEqual(y.I64, []int64{3, 1}) {
				t.Errorf("y_train %v, %v", y, err)
			}
			if _, err := ar.Read("y_test"); err == nil || !strings.Contains(err.Error(), `no array "y_test"; the archive holds x_test, x_train, y_train`) {
				t.Errorf("missing key: %v", err)
			}
		})
	}
	t.Run("not a zip", func(t *testing.T) {
		path := writeFile(t, "a.npz", npyBytes("<f4", []int{1}, f32le(1)))
		if _, err := OpenArchive(path); err == nil || !strings.Contains(err.Error(), path+": not an .npz archive") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("aligned stored member is mapped", func(t *testing.T) {
		b := npzBytes(t, zip.Store, map[string][]byte{"xy": npyBytes("<f4", []int{2}, f32le(1, 2))}, "xy")
		ar, err := OpenArchive(writeFile(t, "a.npz", b))
		if err != nil {
			t.Fatal(err)
		}
		defer ar.Close()
		a, err := ar.Read("xy")
		if err != nil || !a.Mapped || !reflect.DeepEqual(a.F32, []float32{1, 2}) {
			t.Errorf("got %+v, %v; want [1 2] mapped", a, err)
		}
	})
	t.Run("sizes beyond the file", func(t *testing.T) {
		// The central directory claims 4096 more bytes than the member has:
		// mapping them would fault on access; it must be an error.
		// The header agrees with the claim (2 + 1024 elements), so only
		// the check against the file's size stands between it and a fault.
		// The key's length puts the data at byte 30+6+128, a multiple of
		// 4: the member would be mapped.
		b := npzBytes(t, zip.Store, map[string][]byte{"xy": npyBytes("<f4", []int{1026}, f32le(1, 2))}, "xy")
		cd := bytes.Index(b, []byte("PK\x01\x02"))
		for _, at := range []int{cd + 20, cd + 24} {
			binary.LittleEndian.PutUint32(b[at:], binary.LittleEndian.Uint32(b[at:])+4096)
		}
		b = append(b, make([]byte, 100)...) // the claim still passes the end
		ar, err := OpenArchive(writeFile(t, "a.npz", b))
		if err != nil {
			return // refused at opening: fine too
		}
		defer ar.Close()
		if a, err := ar.Read("xy"); err == nil {
			t.Errorf("read %v from a member that claims 4096 bytes beyond the file", a.F32)
		}
	})
	t.Run("bad member", func(t *testing.T) {
		path := writeFile(t, "a.npz", npzBytes(t, zip.Store, map[string][]byte{"x": []byte("junk")}, "x"))
		ar, err := OpenArchive(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ar.Close()
		if _, err := ar.Read("x"); err == nil || !strings.Contains(err.Error(), path+"[x]: not an .npy array") {
			t.Errorf("got %v", err)
		}
	})
}

// TestFixtures reads the committed files in testdata (written by
// npyBytes; byte for byte what np.save writes for these arrays).
func TestFixtures(t *testing.T) {
	if *update {
		os.WriteFile(filepath.Join("testdata", "small_f4.npy"), npyBytes("<f4", []int{3, 2, 2}, f32le(0, .25, .5, 1, 0, 0, 0, 0, 1, 1, 1, 1)), 0o644)
	}
	a, err := Open(filepath.Join("testdata", "small_f4.npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !reflect.DeepEqual(a.Shape, []int{3, 2, 2}) || a.F32[1] != .25 || len(a.F32) != 12 {
		t.Errorf("got %v %v", a.Shape, a.F32)
	}
}
