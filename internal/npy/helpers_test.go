// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// npyBytes builds an .npy file as NumPy's format 1.0 writes it: the dict
// padded with spaces to a 64-byte boundary, ending in a newline.
func npyBytes(descr string, shape []int, data []byte) []byte {
	var b bytes.Buffer
	if err := Write(&b, descr, shape, data); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func f32le(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func f64be(v ...float64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// npzBytes builds an .npz archive; method is zip.Store (np.savez) or
// zip.Deflate (np.savez_compressed).
func npzBytes(t *testing.T, method uint16, arrays map[string][]byte, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, k := range order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: k + ".npy", Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(arrays[k])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
