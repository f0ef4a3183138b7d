// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
)

// Write writes an array in NumPy's .npy format, version 1.0: the magic
// "\x93NUMPY", the version, a little-endian uint16 header length, then a
// Python dict literal padded with spaces and ending in a newline so that the
// data starts at a multiple of 64 bytes, then the raw C-order data.
func Write(w io.Writer, descr string, shape []int, data []byte) error {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	const pre = 10 // magic (6) + version (2) + length (2)
	pad := 64 - (pre+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("npy: header of %d bytes is too long for format 1.0", len(header))
	}
	buf := make([]byte, 0, pre+len(header))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}
