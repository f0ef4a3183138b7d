// SPDX-License-Identifier: Apache-2.0

package ckpt

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors name the
// input, that it allocates in proportion to its input, and that whatever
// decodes re-encodes to a file that decodes to the same sections. Each input
// is tried as is and with its checksum fixed, so the fuzzer gets past the
// checksum. The seed corpus lives in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, FixChecksum(data)} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			file, err := Decode(in, "fuzz.bin")
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, 32*uint64(len(in))+1<<20; got > limit {
				t.Fatalf("decoding %d bytes allocated %d bytes", len(in), got)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.bin: ") {
					t.Fatalf("error %q does not name the input", err)
				}
				continue
			}
			var buf bytes.Buffer
			if err := Encode(&buf, file.Meta, file.Sections); err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			again, err := Decode(buf.Bytes(), "again.bin")
			if err != nil {
				t.Fatalf("decoding the re-encoded file: %v", err)
			}
			var buf2 bytes.Buffer
			if err := Encode(&buf2, again.Meta, again.Sections); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
				t.Fatal("re-encoding is not stable")
			}
			if len(again.Sections) != len(file.Sections) {
				t.Fatalf("re-decoded %d sections, want %d", len(again.Sections), len(file.Sections))
			}
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
	if len(paths) < 5 {
		t.Fatalf("seed corpus has %d files", len(paths))
	}
	for _, path := range paths {
		data := readSeed(t, path)
		_, err := Decode(data, filepath.Base(path))
		switch base := filepath.Base(path); {
		case strings.HasPrefix(base, "valid_") && err != nil:
			t.Errorf("%s: %v", path, err)
		case strings.HasPrefix(base, "invalid_") && err == nil:
			t.Errorf("%s: decoded without error", path)
		}
	}
}

// readSeed reads a "go test fuzz v1" file holding one []byte.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
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
	return []byte(data)
}
