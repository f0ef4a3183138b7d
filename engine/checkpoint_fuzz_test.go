// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/ckpt"
)

// FuzzDecodeCheckpoint checks that decoding a checkpoint never panics,
// that its errors name the input, that it allocates in proportion to its
// input, and that whatever decodes re-encodes to the same bytes. Each input
// is tried as is and with its checksum fixed, so the fuzzer reaches the
// checks behind the checksum. The seed corpus lives in
// testdata/fuzz/FuzzDecodeCheckpoint.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, ckpt.FixChecksum(data)} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, err := decodeCheckpoint(in, "fuzz.bin")
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
			var b bytes.Buffer
			if err := c.encode(&b); err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			again, err := decodeCheckpoint(b.Bytes(), "again.bin")
			if err != nil {
				t.Fatalf("decoding the re-encoded checkpoint: %v", err)
			}
			var b2 bytes.Buffer
			if err := again.encode(&b2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), b2.Bytes()) {
				t.Fatal("re-encoding is not stable")
			}
		}
	})
}

// TestCheckpointSeedCorpus checks that the committed seeds named valid_*
// decode and those named invalid_* do not.
func TestCheckpointSeedCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeCheckpoint", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 5 {
		t.Fatalf("seed corpus has %d files", len(paths))
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
		_, err = decodeCheckpoint([]byte(data), filepath.Base(path))
		switch base := filepath.Base(path); {
		case strings.HasPrefix(base, "valid_") && err != nil:
			t.Errorf("%s: %v", path, err)
		case strings.HasPrefix(base, "invalid_") && err == nil:
			t.Errorf("%s: decoded without error", path)
		}
	}
}
