// SPDX-License-Identifier: Apache-2.0

package npy

import (
	"flag"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the files in testdata")

// FuzzParseHeader: no input makes the header parser panic, and an accepted
// header describes an addressable array whose data starts after it.
func FuzzParseHeader(f *testing.F) {
	f.Add(npyBytes("<f4", []int{3, 4}, nil))
	f.Add(npyBytes("|u1", []int{7}, nil))
	f.Add([]byte("\x93NUMPY\x02\x00\x20\x00\x00\x00{'shape': (1,2), 'descr': '<f8'}"))
	f.Add([]byte("\x93NUMPY\x01\x00\x05\x00{'a':"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.Elems() < 0 || h.DataOffset > int64(len(b)) || h.DataOffset < 10 {
			t.Fatalf("accepted %+v from %d bytes", h, len(b))
		}
		parseDescr(h.Descr)
	})
}
