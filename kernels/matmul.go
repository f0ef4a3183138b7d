// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// MatMul is the matrix product c = op(a)·op(b), op(x) = xᵀ when its flag is
// set. c: [m, n]; op(a): [m, k]; op(b): [k, n]; all row-major. a is stored
// [m, k] ([k, m] when ta), b [k, n] ([n, k] when tb).
//
// It calls the BLAS gemm that gonum is set to use (gonum's own, pure Go
// with assembly kernels, unless blas32.Use/blas64.Use installed another);
// MatMulRef is its specification.
func MatMul[T Float](c, a, b []T, m, n, k int, ta, tb bool) {
	if len(c) != m*n || len(a) != m*k || len(b) != k*n {
		panic("kernels: MatMul: wrong lengths")
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c)
		return
	}
	tA, tB := blas.NoTrans, blas.NoTrans
	lda, ldb := k, n
	if ta {
		tA, lda = blas.Trans, m
	}
	if tb {
		tB, ldb = blas.Trans, k
	}
	switch c := any(c).(type) {
	case []float32:
		blas32.Implementation().Sgemm(tA, tB, m, n, k, 1, any(a).([]float32), lda, any(b).([]float32), ldb, 0, c, n)
	case []float64:
		blas64.Implementation().Dgemm(tA, tB, m, n, k, 1, any(a).([]float64), lda, any(b).([]float64), ldb, 0, c, n)
	}
}

// MatMulRef is MatMul as three plain loops, accumulated in float64.
func MatMulRef[T Float](c, a, b []T, m, n, k int, ta, tb bool) {
	if len(c) != m*n || len(a) != m*k || len(b) != k*n {
		panic("kernels: MatMulRef: wrong lengths")
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			c[i*n+j] = T(s)
		}
	}
}
