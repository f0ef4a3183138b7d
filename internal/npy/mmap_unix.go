// SPDX-License-Identifier: Apache-2.0

//go:build unix

package npy

import (
	"os"
	"syscall"
)

// mmap maps n bytes of f from offset off, private and writable (writes stay
// in memory), and returns them with the function that unmaps them.
func mmap(f *os.File, off, n int64) ([]byte, func() error, error) {
	page := int64(os.Getpagesize())
	start := off &^ (page - 1)
	b, err := syscall.Mmap(int(f.Fd()), start, int(off-start+n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return b[off-start:], func() error { return syscall.Munmap(b) }, nil
}
