// SPDX-License-Identifier: Apache-2.0

package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// ref is op(A)·op(B) in float64, plus c0 when acc.
func ref(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, acc bool, c0 []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				ai, bi := i*lda+p, p*ldb+j
				if ta {
					ai = p*lda + i
				}
				if tb {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				s += float64(av) * float64(bv)
			}
			if acc {
				s += float64(c0[i*ldc+j])
			}
			out[i*n+j] = s
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// kernels runs f with each microkernel this machine has.
func kernels(t *testing.T, f func(t *testing.T)) {
	t.Run("go", func(t *testing.T) {
		defer func(u bool) { useAsm = u }(useAsm)
		useAsm = false
		f(t)
	})
	if useAVX2 {
		t.Run("avx2", f)
	}
}

// Shapes cross every blocking edge: MR (6), NR (16), KC (256), MC (144),
// NC (1024), and the engine's own (784, 1000, batch rows 64 and 128).
var shapes = [][3]int{
	{1, 1, 1}, {6, 16, 1}, {5, 15, 3}, {7, 17, 257}, {13, 33, 255},
	{144, 16, 256}, {145, 31, 513}, {64, 1000, 784}, {64, 784, 1000},
	{784, 1000, 64}, {30, 1030, 20}, {2, 2050, 5}, {300, 7, 9},
}

// tolerance: float32 products of k unit normals summed in float32 (with FMA
// or not) against float64, relative to √k·max|a|·max|b| ~ the sum's scale;
// measured errors are ~10× below.
func tolerance(k int) float64 { return 2e-6 * math.Sqrt(float64(k)) * 25 }

// operands are random A and B for op(A)·op(B) (m×k by k×n, stored
// transposed when ta, tb) with padded strides, to catch reads or writes
// past a row.
func operands(r *rand.Rand, ta, tb bool, m, n, k int) (a []float32, lda int, b []float32, ldb int) {
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	lda, ldb = max(ac, 1)+3, max(bc, 1)+1
	return randSlice(r, max((ar-1)*lda+ac, 0)), lda, randSlice(r, max((br-1)*ldb+bc, 0)), ldb
}

// eachSource runs f with each way Sgemm can read its operands: an
// untransposed B in place and packed, A packed and in place (the
// transposed B is always packed); source names the one f runs with.
func eachSource(tb bool, f func(source string)) {
	defer func() { directB, directAMaxN = true, 4*NR }()
	for _, direct := range []bool{true, false} {
		for _, maxN := range []int{0, 1 << 20} {
			if tb && !direct {
				continue
			}
			directB, directAMaxN = direct, maxN
			f(fmt.Sprintf("directB=%v directA=%v", direct, maxN > 0))
		}
	}
}

func TestSgemmMatchesFloat64(t *testing.T) {
	kernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, acc := range []bool{false, true} {
						a, lda, b, ldb := operands(r, ta, tb, m, n, k)
						ldc := n + 2
						c := randSlice(r, (m-1)*ldc+n+5)
						c0 := append([]float32(nil), c...)
						want := ref(ta, tb, m, n, k, a, lda, b, ldb, acc, c0, ldc)
						eachSource(tb, func(source string) {
							copy(c, c0)
							Sgemm(ta, tb, m, n, k, a, lda, b, ldb, acc, c, ldc)
							name := fmt.Sprintf("%dx%dx%d ta=%v tb=%v acc=%v %s", m, n, k, ta, tb, acc, source)
							check(t, name, c, c0, want, m, n, ldc, tolerance(k))
						})
					}
				}
			}
		}
	})
}

// TestSgemmPlusMatchesFloat64: C = op(A)·op(B) + D·diag(s) against float64
// (the product's reference plus D's term, rounded once in the kernel, twice
// in an edge block; the product's tolerance covers both), for every shape,
// transposition and source of A and B, with padded strides for C and D, and
// k = 0 (C = D·diag(s)).
func TestSgemmPlusMatchesFloat64(t *testing.T) {
	kernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, s := range append(shapes, [3]int{7, 20, 0}) {
			m, n, k := s[0], s[1], s[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					a, lda, b, ldb := operands(r, ta, tb, m, n, k)
					ldc, ldd := n+2, n+7
					d := randSlice(r, (m-1)*ldd+n)
					sc := randSlice(r, n)
					c := randSlice(r, (m-1)*ldc+n+5)
					c0 := append([]float32(nil), c...)
					want := ref(ta, tb, m, n, k, a, lda, b, ldb, false, nil, ldc)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							want[i*n+j] += float64(d[i*ldd+j]) * float64(sc[j])
						}
					}
					eachSource(tb, func(source string) {
						copy(c, c0)
						SgemmPlus(ta, tb, m, n, k, a, lda, b, ldb, d, ldd, sc, c, ldc)
						name := fmt.Sprintf("plus %dx%dx%d ta=%v tb=%v %s", m, n, k, ta, tb, source)
						check(t, name, c, c0, want, m, n, ldc, tolerance(max(k, 1)))
					})
				}
			}
		}
	})
}

func TestSgemmPackedMatchesSgemm(t *testing.T) {
	kernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		var pb PackedB
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, tb := range []bool{false, true} {
				for _, byRange := range []bool{false, true} {
					ldb := n
					if tb {
						ldb = k
					}
					b := randSlice(r, k*n)
					a := randSlice(r, m*k)
					if byRange {
						pb.Prepare(k, n)
						for p0 := 0; p0 < k; p0 += KStep(k) {
							for j0 := 0; j0 < n; j0 += 2 * NR { // two panels at a time
								pb.PackRange(tb, b, ldb, p0, j0, min(j0+2*NR, n))
							}
						}
					} else {
						pb.Pack(tb, k, n, b, ldb)
					}
					c := randSlice(r, m*n)
					c0 := append([]float32(nil), c...)
					want := ref(false, tb, m, n, k, a, k, b, ldb, true, c0, n)
					SgemmPacked(false, m, a, k, &pb, true, c, n)
					check(t, fmt.Sprintf("packed %dx%dx%d tb=%v range=%v", m, n, k, tb, byRange), c, c0, want, m, n, n, tolerance(k))
				}
			}
		}
	})
}

// check compares C's m×n block with want and that the padding past each
// row is untouched.
func check(t *testing.T, name string, c, c0 []float32, want []float64, m, n, ldc int, tol float64) {
	t.Helper()
	worst := 0.0
	for i := 0; i < m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(c); j++ {
			got := c[i*ldc+j]
			if j >= n {
				if got != c0[i*ldc+j] {
					t.Fatalf("%s: wrote C[%d][%d] past the row's %d columns", name, i, j, n)
				}
				continue
			}
			worst = max(worst, math.Abs(float64(got)-want[i*n+j]))
		}
	}
	if tail := c[(m-1)*ldc+n:]; len(tail) > 0 && m > 0 {
		for j, v := range tail {
			if v != c0[(m-1)*ldc+n+j] {
				t.Fatalf("%s: wrote past C's last row", name)
			}
		}
	}
	if worst > tol {
		t.Errorf("%s: max |error| %.3g > %.3g", name, worst, tol)
	}
}

func TestSgemmZeroK(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 0, nil, 1, nil, 2, true, c, 2)
	if c[0] != 1 || c[3] != 4 {
		t.Fatalf("k=0 with acc changed C: %v", c)
	}
	Sgemm(false, false, 2, 2, 0, nil, 1, nil, 2, false, c, 2)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("k=0 without acc left C = %v, want zeros", c)
		}
	}
}

func TestSgemmAllocatesNothing(t *testing.T) {
	a, b, c := make([]float32, 64*784), make([]float32, 784*1000), make([]float32, 64*1000)
	Sgemm(false, true, 64, 1000, 784, a, 784, b, 784, false, c, 1000)
	if n := testing.AllocsPerRun(5, func() { Sgemm(false, true, 64, 1000, 784, a, 784, b, 784, false, c, 1000) }); n != 0 {
		t.Fatalf("Sgemm allocates %v times per call", n)
	}
	d, sc := make([]float32, 784*1000), make([]float32, 1000)
	w0 := make([]float32, 784*1000)
	if n := testing.AllocsPerRun(5, func() { SgemmPlus(true, false, 784, 1000, 64, a, 784, c, 1000, d, 1000, sc, w0, 1000) }); n != 0 {
		t.Fatalf("SgemmPlus allocates %v times per call", n)
	}
	// nor after garbage collections, which would empty a sync.Pool: the
	// free list hands back the workspace the last call used.
	w := getWorkspace()
	putWorkspace(w)
	runtime.GC()
	runtime.GC()
	if got := getWorkspace(); got != w {
		t.Fatal("the workspace did not survive two garbage collections")
	} else {
		putWorkspace(got)
	}
}

func BenchmarkSgemm(bm *testing.B) {
	for _, s := range [][5]int{{64, 1000, 784, 0, 1}, {64, 784, 1000, 0, 0}, {784, 1000, 128, 1, 0}, {512, 1000, 784, 0, 1}, {1024, 1024, 1024, 0, 0}} {
		m, n, k, ta, tb := s[0], s[1], s[2], s[3] == 1, s[4] == 1
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		lda, ldb := k, n
		if ta {
			lda = m
		}
		if tb {
			ldb = k
		}
		for _, direct := range []bool{true, false} {
			if tb && !direct {
				continue
			}
			bm.Run(fmt.Sprintf("%dx%dx%d_ta%v_tb%v_direct%v", m, n, k, ta, tb, direct), func(bm *testing.B) {
				defer func(d bool) { directB = d }(directB)
				directB = direct
				for bm.Loop() {
					Sgemm(ta, tb, m, n, k, a, lda, b, ldb, ta, c, n) // C += Aᵀ·B, as a weight's gradient
				}
				bm.ReportMetric(2*float64(m*n*k)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		var pb PackedB
		pb.Pack(tb, k, n, b, ldb)
		bm.Run(fmt.Sprintf("packed_%dx%dx%d_ta%v", m, n, k, ta), func(bm *testing.B) {
			for bm.Loop() {
				SgemmPacked(ta, m, a, lda, &pb, false, c, n)
			}
			bm.ReportMetric(2*float64(m*n*k)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func TestKStep(t *testing.T) {
	for k := 1; k <= 3000; k++ {
		s := KStep(k)
		blocks := (k + s - 1) / s
		if s > KC || s < 1 || blocks != (k+KC-1)/KC {
			t.Fatalf("KStep(%d) = %d: %d blocks, want %d of at most %d", k, s, blocks, (k+KC-1)/KC, KC)
		}
		if last := k - (blocks-1)*s; k > KC && last < s/2 {
			t.Errorf("KStep(%d) = %d leaves a last block of %d", k, s, last)
		}
	}
}
