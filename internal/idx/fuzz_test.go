// SPDX-License-Identifier: Apache-2.0

package idx_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/internal/idx"
)

// The seed corpora are in testdata/fuzz/FuzzDecodeImages and
// testdata/fuzz/FuzzDecodeLabels.

// allocLimit is how much decoding data may allocate: in proportion to the
// bytes it holds once decompressed, never to what its header claims.
func allocLimit(data []byte) uint64 {
	n := int64(len(data))
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		if m, _ := io.Copy(io.Discard, io.LimitReader(zr, 1<<30)); m > n {
			n = m
		}
	}
	return 8*uint64(n) + 1<<20
}

// checkAlloc fails t if decode allocates more than allocLimit(data).
func checkAlloc(t *testing.T, data []byte, decode func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	decode()
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, allocLimit(data); got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes (limit %d)", len(data), got, limit)
	}
}

// FuzzDecodeImages checks that DecodeImages never panics, names the input
// in its errors, allocates in proportion to the data it reads (not to the
// counts its header claims), and returns exactly what the input holds.
func FuzzDecodeImages(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var img *idx.Images
		var err error
		checkAlloc(t, data, func() { img, err = idx.DecodeImages(bytes.NewReader(data), "fuzz") })
		if err != nil {
			if img != nil {
				t.Errorf("DecodeImages returned images and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Errorf("error %q does not name the input", err)
			}
			return
		}
		if img.N <= 0 || img.Rows <= 0 || img.Cols <= 0 || img.Rows > idx.MaxSide || img.Cols > idx.MaxSide {
			t.Fatalf("bad shape N=%d Rows=%d Cols=%d", img.N, img.Rows, img.Cols)
		}
		if len(img.Pix) != img.N*img.Dim() {
			t.Fatalf("len(Pix) = %d, want N*Dim = %d", len(img.Pix), img.N*img.Dim())
		}
		for i, v := range img.Float32() {
			if v < 0 || v > 1 || v != float32(img.Pix[i])/255 {
				t.Fatalf("Float32()[%d] = %v for pixel %d", i, v, img.Pix[i])
			}
		}
		// A raw input must be exactly the re-encoded result.
		if len(data) > 0 && data[0] != 0x1f {
			re := encodeImages(uint32(img.N), uint32(img.Rows), uint32(img.Cols), img.Pix)
			if !bytes.Equal(re, data) {
				t.Fatalf("re-encoded image file differs from the input")
			}
		}
	})
}

// FuzzDecodeLabels is FuzzDecodeImages for label files.
func FuzzDecodeLabels(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var labels []uint8
		var err error
		checkAlloc(t, data, func() { labels, err = idx.DecodeLabels(bytes.NewReader(data), "fuzz") })
		if err != nil {
			if labels != nil {
				t.Errorf("DecodeLabels returned labels and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Errorf("error %q does not name the input", err)
			}
			return
		}
		if len(labels) == 0 {
			t.Fatal("DecodeLabels succeeded with no labels")
		}
		for i, l := range labels {
			if l > idx.MaxLabel {
				t.Fatalf("label %d = %d > %d", i, l, idx.MaxLabel)
			}
		}
		if len(data) > 0 && data[0] != 0x1f {
			if re := encodeLabels(uint32(len(labels)), labels); !bytes.Equal(re, data) {
				t.Fatalf("re-encoded label file differs from the input")
			}
		}
	})
}
