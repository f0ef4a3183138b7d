// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"os"

	"github.com/caetrain/caetrain/kernels/internal/gemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// MatMul is the matrix product c = op(a)·op(b), op(x) = xᵀ when its flag is
// set. c: [m, n]; op(a): [m, k]; op(b): [k, n]; all row-major. a is stored
// [m, k] ([k, m] when ta), b [k, n] ([n, k] when tb).
//
// float32 products run caetrain's own gemm where Sgemm is "avx2"; others
// call the BLAS gemm that gonum is set to use (gonum's own, pure Go with
// assembly kernels, or OpenBLAS with -tags openblas). Single-threaded and
// without allocating; MatMulRef is its specification.
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
	if !serial[T]() {
		// gonum's gemm starts goroutines, and allocates, for products of
		// four or more 64×64 blocks: hand it tiles it runs serially.
		// Parallelism is the caller's (see engine's VM).
		for i0 := 0; i0 < m; i0 += SerialTileM {
			for j0 := 0; j0 < n; j0 += SerialTileN {
				MatMulTile(c, a, b, m, n, k, ta, tb, i0, min(i0+SerialTileM, m), j0, min(j0+SerialTileN, n))
			}
		}
		return
	}
	MatMulTile(c, a, b, m, n, k, ta, tb, 0, m, 0, n)
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

// Sgemm names what runs float32 products: "avx2", caetrain's own packed
// gemm with its AVX2+FMA kernel (kernels/internal/gemm), on CPUs that have
// both; BLAS (gonum's or OpenBLAS's Sgemm) elsewhere, or when the
// environment has CAETRAIN_SGEMM=blas (for comparisons; other values are
// ignored).
var Sgemm = sgemmName()

func init() {
	if v := os.Getenv("CAETRAIN_SGEMM"); v == "blas" {
		Sgemm = BLAS
	}
}

func sgemmName() string {
	if gemm.Available {
		return "avx2"
	}
	return BLAS
}

// SerialProducts reports whether MatMul and MatMulAcc run a product of
// any size as one serial call that allocates nothing for T (OpenBLAS,
// which caetrain sets to one thread, and caetrain's own gemm); if not
// (gonum's gemm), callers that split products over workers should hand
// MatMulTile blocks of at most SerialTileM×SerialTileN.
func SerialProducts[T Float]() bool { return serial[T]() }

// ownSgemm reports whether T's products run caetrain's own gemm.
func ownSgemm[T Float]() bool {
	var z T
	_, f32 := any(z).(float32)
	return f32 && Sgemm != BLAS
}

func serial[T Float]() bool {
	return BLAS == "openblas" || ownSgemm[T]()
}

// SerialTileM and SerialTileN bound a block of the product that gonum's
// gemm computes serially (fewer than four of its 64×64 blocks), without
// starting goroutines or allocating.
const SerialTileM, SerialTileN = 64, 128

// MatMulTile computes the block C[i0:i1, j0:j1] of MatMul's product, with
// the same storage conventions; blocks are independent, so several can run
// at once.
func MatMulTile[T Float](c, a, b []T, m, n, k int, ta, tb bool, i0, i1, j0, j1 int) {
	matMulTile(c, a, b, m, n, k, ta, tb, i0, i1, j0, j1, 0, nil, nil)
}

// MatMulAccTile is MatMulTile added to c's block: C[i0:i1, j0:j1] +=
// the block of op(a)·op(b).
func MatMulAccTile[T Float](c, a, b []T, m, n, k int, ta, tb bool, i0, i1, j0, j1 int) {
	if !serial[T]() && ((i1-i0) > SerialTileM || (j1-j0) > SerialTileN) {
		for r := i0; r < i1; r += SerialTileM {
			for q := j0; q < j1; q += SerialTileN {
				matMulTile(c, a, b, m, n, k, ta, tb, r, min(r+SerialTileM, i1), q, min(q+SerialTileN, j1), 1, nil, nil)
			}
		}
		return
	}
	matMulTile(c, a, b, m, n, k, ta, tb, i0, i1, j0, j1, 1, nil, nil)
}

// MatMulPlusTile sets the block C[i0:i1, j0:j1] to that block of
// op(a)·op(b) + d·diag(s): d is m×n like c, s has n values (a weight's
// gradient over its penalty's, 2·W·diag(g)). caetrain's gemm adds the
// term as it stores C's blocks; elsewhere the block is set to the term
// and the product added to it.
func MatMulPlusTile[T Float](c, a, b []T, m, n, k int, ta, tb bool, i0, i1, j0, j1 int, d, s []T) {
	if len(c) != m*n || len(a) != m*k || len(b) != k*n || len(d) != m*n || len(s) != n || i0 < 0 || i1 > m || j0 < 0 || j1 > n || i0 > i1 || j0 > j1 {
		panic("kernels: MatMulPlusTile: wrong lengths or block")
	}
	if ownSgemm[T]() && k > 0 {
		matMulTile(c, a, b, m, n, k, ta, tb, i0, i1, j0, j1, 0, d, s)
		return
	}
	for i := i0; i < i1; i++ {
		ci, di := c[i*n+j0:i*n+j1], d[i*n+j0:i*n+j1]
		for j, v := range di {
			ci[j] = v * s[j0+j]
		}
	}
	MatMulAccTile(c, a, b, m, n, k, ta, tb, i0, i1, j0, j1)
}

// MatMulPlus is MatMulPlusTile on the whole of C: c = op(a)·op(b) + d·diag(s).
func MatMulPlus[T Float](c, a, b []T, m, n, k int, ta, tb bool, d, s []T) {
	MatMulPlusTile(c, a, b, m, n, k, ta, tb, 0, m, 0, n, d, s)
}

// MatMulAcc is MatMul added to c: c += op(a)·op(b).
func MatMulAcc[T Float](c, a, b []T, m, n, k int, ta, tb bool) {
	if len(c) != m*n || len(a) != m*k || len(b) != k*n {
		panic("kernels: MatMulAcc: wrong lengths")
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if !serial[T]() { // serial tiles, as in MatMul
		for i0 := 0; i0 < m; i0 += SerialTileM {
			for j0 := 0; j0 < n; j0 += SerialTileN {
				matMulTile(c, a, b, m, n, k, ta, tb, i0, min(i0+SerialTileM, m), j0, min(j0+SerialTileN, n), 1, nil, nil)
			}
		}
		return
	}
	matMulTile(c, a, b, m, n, k, ta, tb, 0, m, 0, n, 1, nil, nil)
}

// matMulTile is MatMulTile with C's block scaled by beta (0 or 1) before
// the product is added; with d and s (beta 0, k > 0, caetrain's gemm
// only) the block is set to the product plus d·diag(s) (MatMulPlusTile).
func matMulTile[T Float](c, a, b []T, m, n, k int, ta, tb bool, i0, i1, j0, j1 int, beta T, d, s []T) {
	if len(c) != m*n || len(a) != m*k || len(b) != k*n || i0 < 0 || i1 > m || j0 < 0 || j1 > n || i0 > i1 || j0 > j1 {
		panic("kernels: MatMulTile: wrong lengths or block")
	}
	mt, nt := i1-i0, j1-j0
	if mt == 0 || nt == 0 {
		return
	}
	cs := c[i0*n+j0:]
	if k == 0 {
		if beta == 0 {
			for i := 0; i < mt; i++ {
				clear(cs[i*n : i*n+nt])
			}
		}
		return
	}
	tA, tB := blas.NoTrans, blas.NoTrans
	var as, bs []T
	lda, ldb := k, n
	if ta { // A stored [k, m]: columns i0..i1
		tA, lda, as = blas.Trans, m, a[i0:]
	} else {
		as = a[i0*k:]
	}
	if tb { // B stored [n, k]: rows j0..j1
		tB, ldb, bs = blas.Trans, k, b[j0*k:]
	} else {
		bs = b[j0:]
	}
	switch cs := any(cs).(type) {
	case []float32:
		if Sgemm != BLAS {
			if d != nil {
				gemm.SgemmPlus(ta, tb, mt, nt, k, any(as).([]float32), lda, any(bs).([]float32), ldb, any(d).([]float32)[i0*n+j0:], n, any(s).([]float32)[j0:j1], cs, n)
				return
			}
			gemm.Sgemm(ta, tb, mt, nt, k, any(as).([]float32), lda, any(bs).([]float32), ldb, beta == 1, cs, n)
			return
		}
		blas32.Implementation().Sgemm(tA, tB, mt, nt, k, 1, any(as).([]float32), lda, any(bs).([]float32), ldb, float32(beta), cs, n)
	case []float64:
		blas64.Implementation().Dgemm(tA, tB, mt, nt, k, 1, any(as).([]float64), lda, any(bs).([]float64), ldb, float64(beta), cs, n)
	}
}
