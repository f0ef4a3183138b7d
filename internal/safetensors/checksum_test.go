// SPDX-License-Identifier: Apache-2.0

package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestChecksumCatchesEveryBitFlip flips each bit of a file written with a
// checksum in turn: every damaged copy must fail to decode, or decode to the
// very same tensors and metadata. (A flip in the checksum entry's own key
// leaves the content whole, and shows up only as an unknown metadata key.)
func TestChecksumCatchesEveryBitFlip(t *testing.T) {
	tensors := []Tensor{F32("w", []int{2, 2}, []float32{1, 2, 3, 4}), F32("b", []int{2}, []float32{5, 6})}
	md := map[string]string{"format": "pt", "arch": "[4,2]"}
	var buf bytes.Buffer
	if err := EncodeChecked(&buf, tensors, md); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	want, err := Decode(good, "good")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want.Metadata, md) {
		t.Errorf("metadata %v, want %v (without the checksum entry)", want.Metadata, md)
	}
	for i := range good {
		for bit := 0; bit < 8; bit++ {
			d := bytes.Clone(good)
			d[i] ^= 1 << bit
			f, err := Decode(d, "flipped.safetensors")
			if err != nil {
				if !strings.HasPrefix(err.Error(), "flipped.safetensors: ") {
					t.Fatalf("error %q does not name the file", err)
				}
				continue
			}
			for k, v := range want.Metadata {
				if f.Metadata[k] != v {
					t.Fatalf("bit %d of byte %d (%q) flipped: metadata %v without error", bit, i, good[i], f.Metadata)
				}
			}
			if !reflect.DeepEqual(f.Tensors, want.Tensors) || len(f.Metadata) > len(want.Metadata)+1 {
				t.Fatalf("bit %d of byte %d (%q) flipped: decoded %+v without error", bit, i, good[i], f)
			}
		}
	}
	// A flip in the data is reported as such.
	d := bytes.Clone(good)
	d[len(d)-1] ^= 1
	if _, err := Decode(d, "x"); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("flip in the data: %v, want a checksum mismatch", err)
	}
}

func TestChecksumErrors(t *testing.T) {
	var buf bytes.Buffer
	ts := []Tensor{F32("a", []int{1}, []float32{1})}
	if err := Encode(&buf, ts, map[string]string{ChecksumKey: "00000000"}); err == nil {
		t.Error("Encode accepted the reserved metadata key")
	}
	if err := EncodeChecked(&buf, ts, map[string]string{ChecksumKey: "00000000"}); err == nil {
		t.Error("EncodeChecked accepted the reserved metadata key")
	}
	for _, sum := range []string{"", "xyz", "123456789", "1234567g"} {
		file := build(`{"__metadata__":{"crc32c":"`+sum+`"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1})
		if _, err := Decode(file, "f"); err == nil || !strings.Contains(err.Error(), "hex digits") {
			t.Errorf("checksum %q: error %v", sum, err)
		}
	}
}

// TestWriteFileIsChecked: files written by WriteFile carry a checksum, and
// ReadFile reports damage naming the file.
func TestWriteFileIsChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(path, []Tensor{F32("a", []int{3}, []float32{1, 2, 3})}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"`+ChecksumKey+`":"`)) {
		t.Fatalf("no checksum in %q", raw)
	}
	raw[len(raw)-5] ^= 0x40
	os.WriteFile(path, raw, 0o644)
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("bit-flipped file: error %v", err)
	}
}
