// SPDX-License-Identifier: Apache-2.0

package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// build assembles a safetensors file from a raw header and data buffer,
// without padding the header.
func build(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func encode(t testing.TB, tensors []Tensor, metadata map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, metadata); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f64Tensor(name string, shape []int, v []float64) Tensor {
	data := make([]byte, 0, 8*len(v))
	for _, x := range v {
		data = binary.LittleEndian.AppendUint64(data, math.Float64bits(x))
	}
	return Tensor{Name: name, DType: "F64", Shape: shape, Data: data}
}

func TestRoundTrip(t *testing.T) {
	tensors := []Tensor{
		F32("encoder.0.weight", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}),
		f64Tensor("decoder.bias", []int{3}, []float64{math.Pi, -1e300, 0}),
		F32("scalar", []int{}, []float32{42}),
		F32("empty", []int{0, 5}, nil),
		{Name: "bytes", DType: "U8", Shape: []int{3}, Data: []byte{7, 8, 9}},
		{Name: "ints", DType: "I64", Shape: []int{1}, Data: make([]byte, 8)},
	}
	for _, md := range []map[string]string{
		nil,
		{},
		{"format": "pt", "note": `quotes " and <html> & unicode é`},
	} {
		file := encode(t, tensors, md)
		n := binary.LittleEndian.Uint64(file)
		if n%8 != 0 {
			t.Errorf("header length %d is not a multiple of 8", n)
		}
		if len(md) == 0 && bytes.Contains(file, []byte(metadataKey)) {
			t.Errorf("empty metadata written to header: %s", file[8:8+n])
		}
		f, err := Decode(file, "rt.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Metadata) != len(md) || (len(md) > 0 && !reflect.DeepEqual(f.Metadata, md)) {
			t.Errorf("metadata = %v, want %v", f.Metadata, md)
		}
		if f.Metadata == nil {
			t.Error("Metadata is nil")
		}
		if len(f.Tensors) != len(tensors) {
			t.Fatalf("decoded %d tensors, want %d", len(f.Tensors), len(tensors))
		}
		for i := 1; i < len(f.Tensors); i++ {
			if f.Tensors[i-1].Name >= f.Tensors[i].Name {
				t.Errorf("tensors not sorted: %q before %q", f.Tensors[i-1].Name, f.Tensors[i].Name)
			}
		}
		for _, want := range tensors {
			got, ok := f.Get(want.Name)
			if !ok {
				t.Fatalf("tensor %q missing", want.Name)
			}
			if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Errorf("tensor %q = %+v, want %+v", want.Name, got, want)
			}
			if cap(got.Data) != len(got.Data) {
				t.Errorf("tensor %q: Data capacity %d exceeds its length %d", want.Name, cap(got.Data), len(got.Data))
			}
		}
		w, _ := f.Get("encoder.0.weight")
		v, err := w.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if want := []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}; !reflect.DeepEqual(v, want) {
			t.Errorf("Float32() = %v, want %v", v, want)
		}
		if _, ok := f.Get("nope"); ok {
			t.Error(`Get("nope") found a tensor`)
		}
		// Re-encoding is deterministic.
		if again := encode(t, f.Tensors, f.Metadata); !bytes.Equal(again, file) {
			t.Error("re-encoding the decoded file changed its bytes")
		}
	}
}

func TestHeaderAligned(t *testing.T) {
	for n := 0; n < 20; n++ {
		name := strings.Repeat("x", n)
		file := encode(t, []Tensor{F32(name, []int{1}, []float32{1})}, map[string]string{"k": strings.Repeat("v", n/3)})
		hl := binary.LittleEndian.Uint64(file)
		if hl%8 != 0 {
			t.Errorf("name length %d: header length %d is not a multiple of 8", n, hl)
		}
		header := file[8 : 8+hl]
		if trimmed := bytes.TrimRight(header, " "); len(header)-len(trimmed) >= 8 || trimmed[len(trimmed)-1] != '}' {
			t.Errorf("bad padding in header %q", header)
		}
	}
}

// referenceFile is what the Python safetensors library writes for
// save_file({"a": torch.tensor([1.0, 2.0])}) / numpy float32 [1, 2]: the
// header padded with spaces to a multiple of 8 bytes, then the data.
var referenceFile = []byte("" +
	"\x38\x00\x00\x00\x00\x00\x00\x00" + // header length 56
	`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}` + "  " +
	"\x00\x00\x80\x3f" + // 1.0f
	"\x00\x00\x00\x40") // 2.0f

func TestReferenceFile(t *testing.T) {
	f, err := Decode(referenceFile, "ref.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 1 || len(f.Metadata) != 0 {
		t.Fatalf("decoded %+v", f)
	}
	a, ok := f.Get("a")
	if !ok || a.DType != "F32" || !reflect.DeepEqual(a.Shape, []int{2}) {
		t.Fatalf("tensor a = %+v", a)
	}
	v, err := a.Float32()
	if err != nil || !reflect.DeepEqual(v, []float32{1, 2}) {
		t.Fatalf("Float32() = %v, %v", v, err)
	}
	// Our encoder produces byte-identical output.
	if got := encode(t, []Tensor{F32("a", []int{2}, []float32{1, 2})}, nil); !bytes.Equal(got, referenceFile) {
		t.Errorf("Encode = %q\nwant     %q", got, referenceFile)
	}
}

func TestDecodeMalformed(t *testing.T) {
	const tiny = `{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`
	four := []byte{1, 2, 3, 4}
	tests := []struct {
		name   string
		file   []byte
		phrase string
	}{
		{"too short", []byte{1, 2, 3}, "too short"},
		{"header beyond file", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "header length 100 exceeds the 2 bytes"},
		{"header huge", append(binary.LittleEndian.AppendUint64(nil, 200<<20), "{}"...), "exceeds the limit of 104857600 bytes"},
		{"header 2^64-1", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}"...), "exceeds the limit"},
		{"empty header", build("", nil), "invalid JSON header"},
		{"invalid JSON", build(`{"a":`, nil), "invalid JSON header"},
		{"invalid JSON value", build(`{"a":{"dtype":}}`, nil), "invalid JSON header"},
		{"not an object", build(`[1,2]`, nil), "header is not a JSON object"},
		{"trailing JSON", build(`{} {}`, nil), "after the top-level object"},
		{"invalid UTF-8", build("{\"\xff\":1}", nil), "not valid UTF-8"},
		{"entry not object", build(`{"a":[1]}`, nil), `tensor "a": entry is not a JSON object`},
		{"missing dtype", build(`{"a":{"shape":[],"data_offsets":[0,0]}}`, nil), `tensor "a": missing "dtype"`},
		{"dtype not string", build(`{"a":{"dtype":5,"shape":[],"data_offsets":[0,0]}}`, nil), "dtype 5 is not a string"},
		{"unknown dtype", build(`{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), `tensor "a": unknown dtype "Q7"`},
		{"missing shape", build(`{"a":{"dtype":"U8","data_offsets":[0,0]}}`, nil), `missing "shape"`},
		{"shape not array", build(`{"a":{"dtype":"U8","shape":4,"data_offsets":[0,4]}}`, four), "shape 4 is not an array"},
		{"shape fraction", build(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,4]}}`, four), "is not an array of at most 64 integers"},
		{"shape quoted", build(`{"a":{"dtype":"U8","shape":["4"],"data_offsets":[0,4]}}`, four), "is not an array of at most 64 integers"},
		{"shape negative", build(`{"a":{"dtype":"U8","shape":[-2,-2],"data_offsets":[0,4]}}`, four), "shape [-2 -2] has a negative dimension"},
		{"shape overflow", build(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, four), "overflows"},
		{"shape bytes overflow", build(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}}`, four), "overflows"},
		{"shape int64 overflow", build(`{"a":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,4]}}`, four), "out of range"},
		{"shape rank", build(`{"a":{"dtype":"U8","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,1]}}`, []byte{1}), "at most 64"},
		{"missing offsets", build(`{"a":{"dtype":"U8","shape":[4]}}`, four), `missing "data_offsets"`},
		{"offsets single", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[4]}}`, four), "data_offsets [4] is not a [begin, end] pair"},
		{"offsets triple", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4,4]}}`, four), "is not a [begin, end] pair"},
		{"offsets object", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":{}}}`, four), "is not a [begin, end] pair"},
		{"offsets negative", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[-4,0]}}`, four), "are negative"},
		{"offsets reversed", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}}`, four), "begin > end"},
		{"offsets beyond buffer", build(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, four), "data_offsets [0, 8] extend beyond the 4-byte data buffer"},
		{"size mismatch", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), "data_offsets [0, 4] hold 4 bytes but shape [2] of F32 needs 8"},
		{"size mismatch example", build(`{"encoder.0.weight":{"dtype":"F32","shape":[10,20],"data_offsets":[0,400]}}`, make([]byte, 400)),
			`tensor "encoder.0.weight": data_offsets [0, 400] hold 400 bytes but shape [10 20] of F32 needs 800`},
		{"overlap", build(`{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, four),
			`tensor "b": data_offsets [2, 4] overlap tensor "a" at [0, 3]`},
		{"same range", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, four),
			"overlap tensor"},
		{"gap", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, four),
			"gap: buffer bytes [1, 2) are not covered by any tensor"},
		{"gap at start", build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, four), "gap: buffer bytes [0, 2)"},
		{"trailing bytes", build(tiny, []byte{1, 2, 3, 4, 5, 6}), "2 trailing bytes after the last tensor"},
		{"trailing bytes no tensors", build(`{}`, four), "4 trailing bytes"},
		{"duplicate names", build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, four),
			`duplicate tensor name "a"`},
		{"metadata not object", build(`{"__metadata__":"x"}`, nil), "__metadata__ is not a JSON object"},
		{"metadata number value", build(`{"__metadata__":{"k":1}}`, nil), `__metadata__ value for key "k" is not a string`},
		{"metadata object value", build(`{"__metadata__":{"k":{"x":"y"}}}`, nil), `__metadata__ value for key "k" is not a string`},
		{"metadata null value", build(`{"__metadata__":{"k":null}}`, nil), `__metadata__ value for key "k" is not a string`},
		{"duplicate metadata", build(`{"__metadata__":{},"__metadata__":{}}`, nil), "duplicate __metadata__"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.file, "model.safetensors")
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", f)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "model.safetensors: ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if !strings.Contains(msg, tt.phrase) {
				t.Errorf("error %q does not contain %q", msg, tt.phrase)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "model.safetensors" {
				t.Errorf("error %v is not a *FormatError for the file", err)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name   string
		file   []byte
		tensor int
	}{
		{"no tensors", build(`{}`, nil), 0},
		{"whitespace", build(" { \"a\" : { \"shape\" : [ 2 ] , \"dtype\" : \"U8\" , \"data_offsets\" : [ 0 , 2 ] } } \n\t ", []byte{1, 2}), 1},
		{"null metadata", build(`{"__metadata__":null}`, nil), 0},
		{"unknown field ignored", build(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1],"extra":true}}`, []byte{1}), 1},
		{"zero-size tensors share offset", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[1,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"c":{"dtype":"U8","shape":[1,0],"data_offsets":[1,1]}}`, []byte{1}), 3},
		{"out of order offsets", build(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1, 2}), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.file, "ok.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Tensors) != tt.tensor {
				t.Errorf("got %d tensors, want %d", len(f.Tensors), tt.tensor)
			}
		})
	}
	f, err := Decode(tests[5].file, "")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.Get("a"); !bytes.Equal(a.Data, []byte{1}) {
		t.Errorf("a.Data = %v, want [1]", a.Data)
	}
	if b, _ := f.Get("b"); !bytes.Equal(b.Data, []byte{2}) {
		t.Errorf("b.Data = %v, want [2]", b.Data)
	}
}

func TestDecodeHugeClaimDoesNotAllocate(t *testing.T) {
	files := [][]byte{
		// A 2^40-byte tensor claimed in a tiny file.
		build(`{"a":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}`, []byte{1, 2, 3, 4}),
		build(`{"a":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4]}}`, []byte{1, 2, 3, 4}),
		// A header length of nearly 100 MB in a tiny file.
		append(binary.LittleEndian.AppendUint64(nil, MaxHeaderSize), "{}"...),
	}
	for i, file := range files {
		if _, err := Decode(file, "huge.safetensors"); err == nil {
			t.Fatalf("file %d: Decode succeeded", i)
		}
		allocs := testing.AllocsPerRun(10, func() { Decode(file, "huge.safetensors") })
		if allocs > 100 {
			t.Errorf("file %d: %v allocations per Decode", i, allocs)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		Decode(file, "huge.safetensors")
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
			t.Errorf("file %d: Decode allocated %d bytes", i, d)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	ok := F32("a", []int{1}, []float32{1})
	tests := []struct {
		name    string
		tensors []Tensor
		md      map[string]string
		phrase  string
	}{
		{"duplicate", []Tensor{ok, ok}, nil, `duplicate tensor name "a"`},
		{"reserved", []Tensor{F32(metadataKey, []int{1}, []float32{1})}, nil, "reserved"},
		{"bad UTF-8 name", []Tensor{F32("\xff", []int{1}, []float32{1})}, nil, "not valid UTF-8"},
		{"bad UTF-8 metadata", []Tensor{ok}, map[string]string{"k": "\xff"}, "not valid UTF-8"},
		{"unknown dtype", []Tensor{{Name: "x", DType: "F7", Shape: []int{1}, Data: []byte{1}}}, nil, `unknown dtype "F7"`},
		{"length mismatch", []Tensor{{Name: "x", DType: "F64", Shape: []int{2}, Data: make([]byte, 8)}}, nil, "data holds 8 bytes but shape [2] of F64 needs 16"},
		{"negative dim", []Tensor{{Name: "x", DType: "U8", Shape: []int{-1}}}, nil, "negative"},
		{"overflow", []Tensor{{Name: "x", DType: "U8", Shape: []int{1 << 20, 1 << 20, 1 << 20, 1 << 20}}}, nil, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, tt.tensors, tt.md)
			if err == nil || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("Encode error = %v, want one containing %q", err, tt.phrase)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestF32Panics(t *testing.T) {
	defer func() {
		r := recover()
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "safetensors: ") {
			t.Errorf("recovered %v, want a safetensors panic", r)
		}
	}()
	F32("x", []int{2, 2}, []float32{1, 2, 3})
}

func TestFloat32WrongDType(t *testing.T) {
	if _, err := f64Tensor("d", []int{1}, []float64{1}).Float32(); err == nil || !strings.Contains(err.Error(), "not F32") {
		t.Errorf("Float32 on F64: err = %v", err)
	}
	bad := Tensor{Name: "b", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}
	if _, err := bad.Float32(); err == nil {
		t.Error("Float32 with short data: no error")
	}
}

func TestWriteReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	tensors := []Tensor{F32("w", []int{2, 2}, []float32{1, 2, 3, 4}), F32("b", []int{2}, []float32{5, 6})}
	md := map[string]string{"epoch": "3"}
	if err := WriteFile(path, tensors, md); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["epoch"] != "3" || len(f.Tensors) != 2 || f.Tensors[0].Name != "b" {
		t.Errorf("ReadFile = %+v", f)
	}
	w, _ := f.Get("w")
	if v, _ := w.Float32(); !reflect.DeepEqual(v, []float32{1, 2, 3, 4}) {
		t.Errorf("w = %v", v)
	}

	// A failed write leaves the old file intact.
	if err := WriteFile(path, []Tensor{{Name: "x", DType: "F32", Shape: []int{3}}}, nil); err == nil {
		t.Error("WriteFile of an invalid tensor succeeded")
	}
	if _, err := ReadFile(path); err != nil {
		t.Errorf("old file damaged by failed write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}

	// Errors name the path.
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, build(`{"a":1}`, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("ReadFile(bad) error = %v, want one naming %s", err, bad)
	}
	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := ReadFile(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) error = %v", err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile(dir) error = %v", err)
	}
}
