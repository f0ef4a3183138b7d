// SPDX-License-Identifier: Apache-2.0

package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors name the
// file, that it allocates in proportion to its input, and that whatever
// decodes re-encodes and decodes to the same tensors and metadata. The seed
// corpus lives in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(referenceFile)
	f.Add(build(`{}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		file, err := Decode(data, "fuzz.safetensors")
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, 32*uint64(len(data))+1<<20; got > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), got)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.safetensors: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("re-encoding decoded file: %v", err)
		}
		again, err := Decode(buf.Bytes(), "again.safetensors")
		if err != nil {
			t.Fatalf("decoding re-encoded file: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("re-decoded %d tensors, want %d", len(again.Tensors), len(file.Tensors))
		}
		for i, want := range file.Tensors {
			got := again.Tensors[i]
			if got.Name != want.Name || got.DType != want.DType ||
				!reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("tensor %d: re-decoded %+v, want %+v", i, got, want)
			}
		}
		if !reflect.DeepEqual(again.Metadata, file.Metadata) {
			t.Fatalf("metadata: re-decoded %v, want %v", again.Metadata, file.Metadata)
		}
		// Encoding is canonical: a second round trip is byte-identical.
		var buf2 bytes.Buffer
		if err := Encode(&buf2, again.Tensors, again.Metadata); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
			t.Fatal("encoding is not canonical")
		}
	})
}

// TestSeedCorpus checks that the committed seeds named valid_* decode and
// those named invalid_* do not, so the corpus keeps covering both paths.
func TestSeedCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no seed corpus")
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		data, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a go test fuzz v1 []byte seed", path)
		}
		_, err = Decode([]byte(data), filepath.Base(path))
		switch base := filepath.Base(path); {
		case strings.HasPrefix(base, "valid_") && err != nil:
			t.Errorf("%s: %v", path, err)
		case strings.HasPrefix(base, "invalid_") && err == nil:
			t.Errorf("%s: decoded without error", path)
		}
	}
}
