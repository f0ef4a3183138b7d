// SPDX-License-Identifier: Apache-2.0

//go:build !amd64 || purego

package gemm

// useAVX2 is false where the assembly is not built.
const useAVX2 = false

func kernAVX2(np, k int, a *float32, as, ar, astep int, b *float32, ldb int, c *float32, ldc int, mode int, d *float32, ldd int, s *float32) {
	panic("gemm: no assembly")
}

func transposeAVX2(dst *float32, ldd int, src *float32, lds int) { panic("gemm: no assembly") }

func copyRowsAVX2(dst, src *float32, lds, k int) { panic("gemm: no assembly") }

func packRows6(dst, src *float32, lda, k int) { panic("gemm: no assembly") }

func packCols6(dst, src *float32, lda, k int) { panic("gemm: no assembly") }
