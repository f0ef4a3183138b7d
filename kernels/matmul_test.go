// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatMulMatchesReference checks MatMul and a tiling of MatMulTile
// against the plain triple loop for every transpose flag; float64 with
// 1e-12 relative tolerance (summation order only), and float32 against the
// float64 reference with 1e-5 of the sum of |terms|.
func TestMatMulMatchesReference(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {5, 7, 3}, {70, 130, 33}, {3, 4, 0}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, fl := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := fl[0], fl[1]
			rng := rand.New(rand.NewPCG(uint64(m), uint64(n)))
			a, b := randSlice(rng, m*k), randSlice(rng, k*n)
			want := make([]float64, m*n)
			MatMulRef(want, a, b, m, n, k, ta, tb)
			got := make([]float64, m*n)
			for i := range got {
				got[i] = math.NaN() // every element must be written
			}
			MatMul(got, a, b, m, n, k, ta, tb)
			tiled := make([]float64, m*n)
			for i := range tiled {
				tiled[i] = math.NaN()
			}
			for i0 := 0; i0 < m; i0 += 17 {
				for j0 := 0; j0 < n; j0 += 29 {
					MatMulTile(tiled, a, b, m, n, k, ta, tb, i0, min(i0+17, m), j0, min(j0+29, n))
				}
			}
			acc := make([]float64, m*n) // c0 + the product, c0[i] = i
			for i := range acc {
				acc[i] = float64(i)
			}
			MatMulAcc(acc, a, b, m, n, k, ta, tb)
			for i := range acc {
				acc[i] -= float64(i)
			}
			mag := make([]float64, m*n)
			MatMulRef(mag, abs(a), abs(b), m, n, k, ta, tb)
			a32, b32 := to32(a), to32(b)
			got32 := make([]float32, m*n)
			MatMul(got32, a32, b32, m, n, k, ta, tb)
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, mag[i]) {
					t.Fatalf("%v ta=%v tb=%v MatMul[%d]: got %v, want %v", sz, ta, tb, i, got[i], want[i])
				}
				if math.Abs(acc[i]-want[i]) > 1e-12*math.Max(float64(m*n), mag[i]) {
					t.Fatalf("%v ta=%v tb=%v MatMulAcc[%d]: got c0+%v, want c0+%v", sz, ta, tb, i, acc[i], want[i])
				}
				if math.Abs(tiled[i]-want[i]) > 1e-12*math.Max(1, mag[i]) {
					t.Fatalf("%v ta=%v tb=%v MatMulTile[%d]: got %v, want %v", sz, ta, tb, i, tiled[i], want[i])
				}
				if math.Abs(float64(got32[i])-want[i]) > 1e-5*math.Max(1, mag[i]) {
					t.Fatalf("%v ta=%v tb=%v float32 MatMul[%d]: got %v, want %v", sz, ta, tb, i, got32[i], want[i])
				}
			}
		}
	}
}

// TestMatMulPlusMatchesReference: MatMulPlus and a tiling of
// MatMulPlusTile against the triple loop plus d·diag(s), float64 (1e-12
// relative: summation order only) and float32 against float64 (1e-5 of
// the sum of |terms|), every transpose flag; with caetrain's gemm in
// float32 the term is added by the kernel, else set first.
func TestMatMulPlusMatchesReference(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {5, 7, 3}, {70, 130, 33}, {3, 4, 0}, {200, 300, 64}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, fl := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := fl[0], fl[1]
			rng := rand.New(rand.NewPCG(uint64(m)+7, uint64(n)))
			a, b, d, s := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n), randSlice(rng, n)
			want := make([]float64, m*n)
			MatMulRef(want, a, b, m, n, k, ta, tb)
			mag := make([]float64, m*n)
			MatMulRef(mag, abs(a), abs(b), m, n, k, ta, tb)
			for i := range want {
				want[i] += d[i] * s[i%n]
				mag[i] += math.Abs(d[i] * s[i%n])
			}
			got := make([]float64, m*n)
			MatMulPlus(got, a, b, m, n, k, ta, tb, d, s)
			tiled32 := make([]float32, m*n)
			for i := range tiled32 {
				tiled32[i] = float32(math.NaN()) // every element must be written
			}
			a32, b32, d32, s32 := to32(a), to32(b), to32(d), to32(s)
			for i0 := 0; i0 < m; i0 += 67 {
				for j0 := 0; j0 < n; j0 += 129 {
					MatMulPlusTile(tiled32, a32, b32, m, n, k, ta, tb, i0, min(i0+67, m), j0, min(j0+129, n), d32, s32)
				}
			}
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, mag[i]) {
					t.Fatalf("%v ta=%v tb=%v MatMulPlus[%d]: got %v, want %v", sz, ta, tb, i, got[i], want[i])
				}
				if math.Abs(float64(tiled32[i])-want[i]) > 1e-5*math.Max(1, mag[i]) {
					t.Fatalf("%v ta=%v tb=%v float32 MatMulPlusTile[%d]: got %v, want %v", sz, ta, tb, i, tiled32[i], want[i])
				}
			}
		}
	}
}
