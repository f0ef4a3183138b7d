// SPDX-License-Identifier: Apache-2.0

package idx_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
)

// encodeImages builds a raw IDX image file with the given header fields
// and pixel data (which need not agree with the header).
func encodeImages(n, rows, cols uint32, pix []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, [4]uint32{0x00000803, n, rows, cols})
	b.Write(pix)
	return b.Bytes()
}

// encodeLabels builds a raw IDX label file with the given count and data.
func encodeLabels(n uint32, labels []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, [2]uint32{0x00000801, n})
	b.Write(labels)
	return b.Bytes()
}

func gzipBytes(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// seq returns n bytes i*step mod 256.
func seq(n, step int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * step)
	}
	return b
}

// withMagic returns a copy of data with its first four bytes replaced.
func withMagic(data []byte, magic uint32) []byte {
	out := bytes.Clone(data)
	binary.BigEndian.PutUint32(out, magic)
	return out
}
