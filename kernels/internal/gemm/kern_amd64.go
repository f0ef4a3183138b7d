// SPDX-License-Identifier: Apache-2.0

//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

// useAVX2 says whether kern runs the assembly microkernel: the CPU (and
// the OS, for the YMM registers) must support AVX2 and FMA.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernAVX2 is kernGo in assembly (kern_amd64.s), on np blocks one under
// the other, the panels of A astep floats apart.
//
//go:noescape
func kernAVX2(np, k int, a *float32, as, ar, astep int, b *float32, ldb int, c *float32, ldc int, mode int, d *float32, ldd int, s *float32)

// transposeAVX2 sets dst[c·ldd+r] = src[r·lds+c] for r, c < 8.
//
//go:noescape
func transposeAVX2(dst *float32, ldd int, src *float32, lds int)

// copyRowsAVX2 sets dst[p·16+j] = src[p·lds+j] for p < k, j < 16.
//
//go:noescape
func copyRowsAVX2(dst, src *float32, lds, k int)

// packRows6 sets dst[p·6+i] = src[i·lda+p] for p < k, i < 6.
//
//go:noescape
func packRows6(dst, src *float32, lda, k int)

// packCols6 sets dst[p·6+i] = src[p·lda+i] for p < k, i < 6.
//
//go:noescape
func packCols6(dst, src *float32, lda, k int)
