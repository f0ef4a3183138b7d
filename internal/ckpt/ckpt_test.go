// SPDX-License-Identifier: Apache-2.0

package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

type testMeta struct {
	Step int    `json:"step"`
	Note string `json:"note"`
}

func sampleSections() []Section {
	return []Section{
		{Name: "param/w", F32: []float32{1, -2.5, float32(math.Inf(1)), 0}},
		{Name: "perm", U32: []uint32{3, 0, 2, 1}},
		{Name: "empty", U32: []uint32{}},
		{Name: "param/b", F32: []float32{}},
	}
}

func encode(t *testing.T, meta any, secs []Section) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, meta, secs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := encode(t, testMeta{Step: 7, Note: "hi"}, sampleSections())
	f, err := Decode(data, "x.bin")
	if err != nil {
		t.Fatal(err)
	}
	var m testMeta
	if err := json.Unmarshal(f.Meta, &m); err != nil {
		t.Fatal(err)
	}
	if want := (testMeta{Step: 7, Note: "hi"}); m != want {
		t.Errorf("meta %+v, want %+v", m, want)
	}
	want := sampleSections()
	want[3].F32 = []float32{} // decoded sections are never nil
	if !reflect.DeepEqual(f.Sections, want) {
		t.Errorf("sections %+v, want %+v", f.Sections, want)
	}
	if s, ok := f.Get("perm"); !ok || !reflect.DeepEqual(s.U32, []uint32{3, 0, 2, 1}) {
		t.Errorf("Get(perm) = %+v, %v", s, ok)
	}
	if _, ok := f.Get("nope"); ok {
		t.Error("Get(nope) found a section")
	}
	// Encoding is deterministic.
	if again := encode(t, testMeta{Step: 7, Note: "hi"}, sampleSections()); !bytes.Equal(again, data) {
		t.Error("two encodings of the same input differ")
	}
}

// rebuild assembles a file from a raw header and payload, with a correct
// checksum, to reach the checks behind it.
func rebuild(hdr string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	binary.Write(&b, binary.LittleEndian, uint32(Version))
	binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	b.WriteString(hdr)
	b.Write(payload)
	b.Write([]byte{0, 0, 0, 0})
	return FixChecksum(b.Bytes())
}

func TestDecodeErrors(t *testing.T) {
	good := encode(t, testMeta{Step: 1}, sampleSections())
	flip := func(i int) []byte {
		d := bytes.Clone(good)
		d[i] ^= 0x10
		return d
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"truncated", good[:len(good)-9], "checksum mismatch"},
		{"truncated to the prefix", good[:18], "too short"},
		{"bit flip in the payload", flip(len(good) - 10), "checksum mismatch"},
		{"bit flip in the header", flip(30), "checksum mismatch"},
		{"bit flip in the checksum", flip(len(good) - 1), "checksum mismatch"},
		{"bad magic", FixChecksum(append([]byte("PK\x03\x04xxxx"), good[8:]...)), "bad magic"},
		{"future version", func() []byte {
			d := bytes.Clone(good)
			d[8] = 9
			return FixChecksum(d)
		}(), "version 9"},
		{"header length beyond the file", func() []byte {
			d := bytes.Clone(good)
			binary.LittleEndian.PutUint32(d[12:], uint32(len(d)))
			return FixChecksum(d)
		}(), "exceeds"},
		{"header length huge", func() []byte {
			d := bytes.Clone(good)
			binary.LittleEndian.PutUint32(d[12:], math.MaxUint32)
			return FixChecksum(d)
		}(), "exceeds the limit"},
		{"header not JSON", rebuild(`{"meta":{},"sections":[`, nil), "invalid JSON"},
		{"header junk after", rebuild(`{"meta":{},"sections":[]} x`, nil), "after the top-level"},
		{"header not UTF-8", rebuild("{\"meta\":{\"a\":\"\xff\"},\"sections\":[]}", nil), "UTF-8"},
		{"no meta", rebuild(`{"sections":[]}`, nil), "meta"},
		{"meta not an object", rebuild(`{"meta":[1],"sections":[]}`, nil), "meta"},
		{"unknown header field", rebuild(`{"meta":{},"sections":[],"extra":1}`, nil), "extra"},
		{"unknown dtype", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"f64","len":1}]}`, make([]byte, 8)), `unknown dtype "f64"`},
		{"unnamed section", rebuild(`{"meta":{},"sections":[{"name":"","dtype":"f32","len":1}]}`, make([]byte, 4)), "no name"},
		{"duplicate section", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"f32","len":1},{"name":"a","dtype":"f32","len":1}]}`, make([]byte, 8)), `duplicate section "a"`},
		{"negative length", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"f32","len":-1}]}`, nil), "negative"},
		{"huge claimed section", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"f32","len":2147483648}]}`, make([]byte, 8)), `"a" claims 2147483648 values`},
		{"claim overflowing int64", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"f32","len":99999999999999999999}]}`, nil), "invalid JSON"},
		{"sections short of the payload", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"u32","len":1}]}`, make([]byte, 8)), "declare 4 bytes but the payload holds 8"},
		{"payload short of the sections", rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"u32","len":2},{"name":"b","dtype":"u32","len":2}]}`, make([]byte, 12)), "declare 16 bytes but the payload holds 12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.data, "dir/ckpt-000000001.bin")
			if err == nil {
				t.Fatalf("decoded without error: %+v", f)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("error %T %v, want a *FormatError", err, err)
			}
			if got := err.Error(); !strings.HasPrefix(got, "dir/ckpt-000000001.bin: ") || !strings.Contains(got, tc.want) {
				t.Errorf("error %q, want it to name the file and hold %q", got, tc.want)
			}
		})
	}
}

// TestHugeClaimDoesNotAllocate: a small file whose header claims a section
// of 2³¹ values is rejected without allocating for them.
func TestHugeClaimDoesNotAllocate(t *testing.T) {
	data := rebuild(`{"meta":{},"sections":[{"name":"a","dtype":"f32","len":2147483647},{"name":"b","dtype":"f32","len":2147483647}]}`, make([]byte, 64))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := Decode(data, "huge"); err == nil {
			t.Fatal("decoded")
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("10 decodes allocated %d bytes", got)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		meta any
		secs []Section
		want string
	}{
		{"meta not an object", []int{1}, nil, "object"},
		{"meta not marshalable", map[string]any{"f": func() {}}, nil, "meta"},
		{"unnamed section", struct{}{}, []Section{{F32: []float32{1}}}, "name"},
		{"duplicate section", struct{}{}, []Section{{Name: "a"}, {Name: "a"}}, "duplicate"},
		{"both kinds", struct{}{}, []Section{{Name: "a", F32: []float32{1}, U32: []uint32{1}}}, "both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Encode(&b, tc.meta, tc.secs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", b.Len())
			}
		})
	}
}

// failWriter fails every write after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("no space left on device")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestEncodeWriteError(t *testing.T) {
	big := []Section{{Name: "a", F32: make([]float32, 100000)}}
	for _, n := range []int{0, 10, 100, 70000, 399990} {
		if err := Encode(&failWriter{n: n}, struct{}{}, big); err == nil || !strings.Contains(err.Error(), "no space") {
			t.Errorf("write failing after %d bytes: error %v", n, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.bin")
	data := encode(t, testMeta{Step: 3}, sampleSections())
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("truncated file: error %v, want one naming %s", err, path)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: error %v, want one naming %s", err, dir)
	}
	if _, err := ReadFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want ErrNotExist", err)
	}
}
