// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package npy

import (
	"errors"
	"os"
)

// mmap is not available here: arrays are read.
func mmap(f *os.File, off, n int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("npy: no mmap on this system")
}
