// SPDX-License-Identifier: Apache-2.0

//go:build linux

package vec

import (
	"math"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns n float32s that end where a PROT_NONE page begins, so a
// kernel that reads or writes past the end of its slices faults.
func guarded(t *testing.T, n int) []float32 {
	page := syscall.Getpagesize()
	if 4*n > page {
		t.Fatalf("n = %d does not fit a page", n)
	}
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip("mmap:", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[page:], syscall.PROT_NONE); err != nil {
		t.Skip("mprotect:", err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[page-4*n])), n)
}

// TestGuardPage runs every entry point on slices that end at an
// inaccessible page, for every tail length.
func TestGuardPage(t *testing.T) {
	for n := 0; n <= 40; n++ {
		x, b, dst := guarded(t, n), guarded(t, n), guarded(t, n)
		g, m, v := guarded(t, n), guarded(t, n), guarded(t, n)
		for i := range x {
			x[i], b[i] = float32(i)-20, 0.5
			g[i], m[i], v[i] = 0.1, 0.01, 0.001
		}
		Exp(dst, x)
		Sigmoid(dst, x)
		AddSigmoid(dst, x, b)
		s := SoftplusSum(x)
		if want := softplusRef(x); math.Abs(s-want) > 1e-6*(math.Abs(want)+float64(n)) {
			t.Errorf("n=%d: SoftplusSum = %g, want %g", n, s, want)
		}
		Adam(dst, g, m, v, 0.9, 0.999, 1, 1, 1e-3, 1e-8)
	}
}
