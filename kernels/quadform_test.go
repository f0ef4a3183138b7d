// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestQuadFormBLASMatchesReference checks the matrix-product versions of
// the penalty kernels against the plain loops, in float64 (tolerance 1e-12
// relative: both are exact up to summation order) and float32 (1e-5).
func TestQuadFormBLASMatchesReference(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {3, 4, 5}, {7, 16, 64}} {
		B, R, C := sz[0], sz[1], sz[2]
		rng := rand.New(rand.NewPCG(uint64(B), uint64(C)))
		tt, g, gout := randSlice(rng, B*R*C), randSlice(rng, C*C), randSlice(rng, B)
		check64 := func(name string, got, want []float64) {
			t.Helper()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
					t.Fatalf("%v %s[%d]: got %v, want %v (reference)", sz, name, i, got[i], want[i])
				}
			}
		}
		want, got := make([]float64, B), make([]float64, B)
		QuadForm(want, tt, g, B, R, C)
		QuadFormBLAS(got, tt, g, make([]float64, B*R*C), B, R, C)
		check64("QuadForm", got, want)

		wdt, gdt := make([]float64, B*R*C), make([]float64, B*R*C)
		QuadFormGradT(wdt, tt, g, gout, B, R, C)
		QuadFormGradTBLAS(gdt, tt, g, gout, make([]float64, C*C), B, R, C)
		check64("QuadFormGradT", gdt, wdt)

		wdg, gdg := make([]float64, C*C), make([]float64, C*C)
		QuadFormGradG(wdg, tt, gout, B, R, C)
		QuadFormGradGBLAS(gdg, tt, gout, make([]float64, B*R*C), B, R, C)
		check64("QuadFormGradG", gdg, wdg)

		// float32 against the float64 reference, relative to the size of
		// the terms summed (the sum itself may cancel): QuadForm of |T|, |G|.
		t32, g32 := to32(tt), to32(g)
		o32 := make([]float32, B)
		QuadFormBLAS(o32, t32, g32, make([]float32, B*R*C), B, R, C)
		mag := make([]float64, B)
		QuadForm(mag, abs(tt), abs(g), B, R, C)
		for i := range want {
			if math.Abs(float64(o32[i])-want[i]) > 1e-5*mag[i] {
				t.Fatalf("%v float32 QuadFormBLAS[%d]: got %v, want %v", sz, i, o32[i], want[i])
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

func to32(s []float64) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(v)
	}
	return o
}

func abs(s []float64) []float64 {
	o := make([]float64, len(s))
	for i, v := range s {
		o[i] = math.Abs(v)
	}
	return o
}

// G's kinds in the blocked kernels' tests.
const (
	gRandom = iota // not symmetric
	gSym           // symmetric, not positive definite
	gGram          // W_1ᵀ W_1 for a Glorot-scaled W_1 [3C, C], as the penalty's
)

// qfData is a random T [B, R, C], G [C, C] and gout [B] for the blocked
// kernels' tests: about half of T's rows zero (as with ReLU codes), one
// sample all zero, one gout zero and one negative, and G of the kind.
func qfData(rng *rand.Rand, B, R, C, kind int) (tt, g, gout []float64) {
	tt, g, gout = randSlice(rng, B*R*C), randSlice(rng, C*C), randSlice(rng, B)
	for r := 0; r < B*R; r++ {
		if rng.IntN(2) == 0 || r < R && B > 3 {
			clear(tt[r*C : (r+1)*C])
		}
	}
	switch kind {
	case gSym:
		for i := 0; i < C; i++ {
			for j := 0; j < i; j++ {
				g[j*C+i] = g[i*C+j]
			}
		}
	case gGram:
		w := randSlice(rng, 3*C*C)
		for i := range w {
			w[i] /= math.Sqrt(float64(3 * C))
		}
		MatMulRef(g, w, w, C, C, 3*C, true, false)
	}
	for b := range gout {
		gout[b] = math.Abs(gout[b])
	}
	if B > 2 {
		gout[1], gout[2] = 0, -gout[2]
	}
	return tt, g, gout
}

// TestQuadFormBlockedMatchesReference checks the blocked kernels against
// the plain loops, with batches of several chunks (the last one partial),
// zero rows and samples, gout of both signs and zero, and G symmetric
// (QuadFormGradTBlocked's fast path), not symmetric, and positive definite
// (QuadFormBlocked's Cholesky form, from qfCholRows·C rows of T on: in
// float64 on the stack for C ≤ 64, in place above).
func TestQuadFormBlockedMatchesReference(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {3, 4, 5}, {7, 16, 64}, {70, 16, 64}, {130, 16, 64}, {10, 300, 70}, {5, 300, 200}, {0, 3, 4}, {4, 0, 3}, {4, 3, 0}} {
		B, R, C := sz[0], sz[1], sz[2]
		for _, kind := range []int{gRandom, gSym, gGram} {
			rng := rand.New(rand.NewPCG(uint64(B), uint64(C)))
			tt, g, gout := qfData(rng, B, R, C, kind)
			name := fmt.Sprintf("%v G kind %d", sz, kind)
			u := make([]float64, QuadFormScratch(B, R, C))

			want, got := make([]float64, B), make([]float64, B)
			QuadForm(want, tt, g, B, R, C)
			QuadFormBlocked(got, tt, g, u, B, R, C)
			near64(t, name+" QuadFormBlocked", got, want)

			wdt, gdt := make([]float64, B*R*C), make([]float64, B*R*C)
			QuadFormGradT(wdt, tt, g, gout, B, R, C)
			QuadFormGradTBlocked(gdt, tt, g, gout, u, B, R, C)
			near64(t, name+" QuadFormGradTBlocked", gdt, wdt)

			wdg, gdg := make([]float64, C*C), make([]float64, C*C)
			QuadFormGradG(wdg, tt, gout, B, R, C)
			QuadFormGradGBlocked(gdg, tt, gout, u, B, R, C)
			near64(t, name+" QuadFormGradGBlocked", gdg, wdg)

			// float32, against the float64 reference relative to the
			// magnitude of the terms summed.
			t32, g32, go32, u32 := to32(tt), to32(g), to32(gout), make([]float32, len(u))
			o32 := make([]float32, B)
			QuadFormBlocked(o32, t32, g32, u32, B, R, C)
			mag := make([]float64, B)
			QuadForm(mag, abs(tt), abs(g), B, R, C)
			near32(t, name+" float32 QuadFormBlocked", o32, want, mag)

			dt32 := make([]float32, B*R*C)
			QuadFormGradTBlocked(dt32, t32, g32, go32, u32, B, R, C)
			magT := make([]float64, B*R*C)
			QuadFormGradT(magT, abs(tt), abs(g), abs(gout), B, R, C)
			near32(t, name+" float32 QuadFormGradTBlocked", dt32, wdt, magT)

			dg32 := make([]float32, C*C)
			QuadFormGradGBlocked(dg32, t32, go32, u32, B, R, C)
			magG := make([]float64, C*C)
			QuadFormGradG(magG, abs(tt), abs(gout), B, R, C)
			near32(t, name+" float32 QuadFormGradGBlocked", dg32, wdg, magG)
		}
	}
}

// TestQuadFormBlockedNonFinite: leaving zero rows out never hides a NaN
// that the matrix-product forms (which the VMs ran before) give: with G
// or gout[b] not finite, wherever they give NaN or Inf, so do the blocked
// kernels. (The plain loops may give NaN where the products do not: BLAS
// may skip the zeros of an operand, as gonum's does.)
func TestQuadFormBlockedNonFinite(t *testing.T) {
	const B, R, C = 5, 3, 4
	for _, c := range []struct {
		name string
		g, b int // index of G, and sample of gout, made non-finite (-1: none)
		v    float64
	}{{"G NaN", 5, -1, math.NaN()}, {"G Inf", 0, -1, math.Inf(1)}, {"gout NaN", -1, 3, math.NaN()}, {"gout -Inf", -1, 0, math.Inf(-1)}} {
		rng := rand.New(rand.NewPCG(9, 9))
		tt, g, gout := qfData(rng, B, R, C, gGram)
		if c.g >= 0 {
			g[c.g] = c.v
		}
		if c.b >= 0 {
			gout[c.b] = c.v
		}
		bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
		same := func(what string, got, want []float64) {
			t.Helper()
			for i := range got {
				if bad(want[i]) && !bad(got[i]) {
					t.Errorf("%s: %s[%d] = %v, matrix-product form %v", c.name, what, i, got[i], want[i])
				}
			}
		}
		u := make([]float64, 2*B*R*C+C*C)
		want, got := make([]float64, B), make([]float64, B)
		QuadFormBLAS(want, tt, g, u[:B*R*C], B, R, C)
		QuadFormBlocked(got, tt, g, u, B, R, C)
		same("QuadForm", got, want)
		wdt, gdt := make([]float64, B*R*C), make([]float64, B*R*C)
		QuadFormGradTBLAS(wdt, tt, g, gout, u[:C*C], B, R, C)
		QuadFormGradTBlocked(gdt, tt, g, gout, u, B, R, C)
		same("QuadFormGradT", gdt, wdt)
		wdg, gdg := make([]float64, C*C), make([]float64, C*C)
		QuadFormGradGBLAS(wdg, tt, gout, u[:B*R*C], B, R, C)
		QuadFormGradGBlocked(gdg, tt, gout, u, B, R, C)
		same("QuadFormGradG", gdg, wdg)
	}
}

// TestQuadFormBlockedSplit: the blocked kernels over row blocks, each with
// scratch of its own as graph's ops run them in a VM, give
// the unsplit results (QuadFormGradGBlocked's blocks summed), for several
// block counts, blocks of one sample and uneven blocks among them (up to
// rounding: BLAS may sum in another order for another number of rows).
func TestQuadFormBlockedSplit(t *testing.T) {
	const B, R, C = 150, 16, 64 // Cholesky form for the whole batch, not for blocks
	n := R * C
	rng := rand.New(rand.NewPCG(5, 6))
	tt, g, gout := qfData(rng, B, R, C, gGram)
	t32, g32, go32 := to32(tt), to32(g), to32(gout)
	want, wdt, wdg := make([]float32, B), make([]float32, B*n), make([]float32, C*C)
	u := make([]float32, QuadFormScratch(B, R, C))
	QuadFormBlocked(want, t32, g32, u, B, R, C)
	QuadFormGradTBlocked(wdt, t32, g32, go32, u, B, R, C)
	QuadFormGradGBlocked(wdg, t32, go32, u, B, R, C)
	mag, magT, magG := make([]float64, B), make([]float64, B*n), make([]float64, C*C)
	QuadForm(mag, abs(tt), abs(g), B, R, C)
	QuadFormGradT(magT, abs(tt), abs(g), abs(gout), B, R, C)
	QuadFormGradG(magG, abs(tt), abs(gout), B, R, C)
	for _, blocks := range []int{1, 2, 3, 5, B - 1, B} {
		got, dt, dg, part := make([]float32, B), make([]float32, B*n), make([]float32, C*C), make([]float32, C*C)
		for w := 0; w < blocks; w++ {
			lo, hi := B*w/blocks, B*(w+1)/blocks
			ub := make([]float32, QuadFormScratch(hi-lo, R, C))
			QuadFormBlocked(got[lo:hi], t32[lo*n:hi*n], g32, ub, hi-lo, R, C)
			QuadFormGradTBlocked(dt[lo*n:hi*n], t32[lo*n:hi*n], g32, go32[lo:hi], ub, hi-lo, R, C)
			QuadFormGradGBlocked(part, t32[lo*n:hi*n], go32[lo:hi], ub, hi-lo, R, C)
			Add(dg, dg, part)
		}
		name := fmt.Sprintf("%d blocks", blocks)
		near32(t, name+" QuadFormBlocked", got, f64(want), mag)
		near32(t, name+" QuadFormGradTBlocked", dt, f64(wdt), magT)
		near32(t, name+" QuadFormGradGBlocked", dg, f64(wdg), magG)
	}
}

func near64(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d]: got %v, want %v (reference)", name, i, got[i], want[i])
		}
	}
}

// near32 checks a float32 result against a float64 reference, relative
// to mag, the same sum over the terms' magnitudes.
func near32(t *testing.T, name string, got []float32, want, mag []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5*mag[i] {
			t.Fatalf("%s[%d]: got %v, want %v", name, i, got[i], want[i])
		}
	}
}

func f64(s []float32) []float64 {
	o := make([]float64, len(s))
	for i, v := range s {
		o[i] = float64(v)
	}
	return o
}

// The penalty kernels at the seed preset's size (batch 1024, M [16, 64],
// half of M's rows zero), on one core: the *BLAS forms against the
// blocked ones.
func benchQF(b *testing.B, f func(out, t, g, gout, u, dt []float32)) {
	rng := rand.New(rand.NewPCG(1, 2))
	tt, g, gout := qfData(rng, bB, bR, bC, gGram)
	for i := range gout {
		gout[i] = math.Abs(gout[i])
	}
	out, u, dt := make([]float32, max(bB, bC*bC)), make([]float32, 2*bB*bR*bC), make([]float32, bB*bR*bC)
	t32, g32, go32 := to32(tt), to32(g), to32(gout)
	b.ResetTimer()
	for range b.N {
		f(out, t32, g32, go32, u, dt)
	}
}

const bB, bR, bC = 1024, 16, 64

func BenchmarkQuadFormBLAS(b *testing.B) {
	benchQF(b, func(out, t, g, _, u, _ []float32) { QuadFormBLAS(out[:bB], t, g, u[:bB*bR*bC], bB, bR, bC) })
}
func BenchmarkQuadFormBlocked(b *testing.B) {
	benchQF(b, func(out, t, g, _, u, _ []float32) { QuadFormBlocked(out[:bB], t, g, u, bB, bR, bC) })
}
func BenchmarkQuadFormGradTBLAS(b *testing.B) {
	benchQF(b, func(out, t, g, gout, _, dt []float32) { QuadFormGradTBLAS(dt, t, g, gout, out[:bC*bC], bB, bR, bC) })
}
func BenchmarkQuadFormGradTBlocked(b *testing.B) {
	benchQF(b, func(_, t, g, gout, u, dt []float32) { QuadFormGradTBlocked(dt, t, g, gout, u, bB, bR, bC) })
}
func BenchmarkQuadFormGradGBLAS(b *testing.B) {
	benchQF(b, func(out, t, _, gout, u, _ []float32) {
		QuadFormGradGBLAS(out[:bC*bC], t, gout, u[:bB*bR*bC], bB, bR, bC)
	})
}
func BenchmarkQuadFormGradGBlocked(b *testing.B) {
	benchQF(b, func(out, t, _, gout, u, _ []float32) { QuadFormGradGBlocked(out[:bC*bC], t, gout, u, bB, bR, bC) })
}

// TestZeroRow: zeroRow finds any nonzero value (NaN, Inf, a denormal) at
// any place in rows of every length and alignment, takes −0 for zero, and
// reads nothing past the row.
func TestZeroRow(t *testing.T) {
	buf32, buf64 := make([]float32, 40), make([]float64, 40)
	for off := 0; off < 3; off++ {
		for n := 0; n <= 19; n++ {
			x32, x64 := buf32[off:off+n], buf64[off:off+n]
			clear(buf32)
			clear(buf64)
			if n > 0 {
				x32[n/2], x64[n/2] = float32(math.Copysign(0, -1)), math.Copysign(0, -1)
			}
			if !zeroRow(x32) || !zeroRow(x64) {
				t.Fatalf("offset %d, %d values: zeros taken for nonzero", off, n)
			}
			buf32[off+n], buf64[off+n] = 1, 1 // just past the row
			if !zeroRow(x32) || !zeroRow(x64) {
				t.Fatalf("offset %d, %d values: read past the row", off, n)
			}
			for i := 0; i < n; i++ {
				for _, v := range []float64{math.NaN(), 1e-40, -1e-310, math.Inf(-1)} {
					v32 := float32(v) // -1e-310 rounds to −0
					x32[i], x64[i] = v32, v
					if zeroRow(x32) != (v32 == 0) {
						t.Fatalf("offset %d, %d values: %v at %d taken for %v (float32)", off, n, v32, i, !zeroRow(x32))
					}
					if zeroRow(x64) {
						t.Fatalf("offset %d, %d values: %v at %d not seen (float64)", off, n, v, i)
					}
					x32[i], x64[i] = 0, 0
				}
			}
		}
	}
}

// TestCholesky: cholesky factors the symmetric part of a positive definite
// G (L Lᵀ = (G + Gᵀ)/2 to rounding), on the stack (C ≤ 64) and in place,
// and refuses one that is not positive definite or not finite.
func TestCholesky(t *testing.T) {
	for _, C := range []int{1, 5, 64, 65, 100} {
		rng := rand.New(rand.NewPCG(uint64(C), 1))
		_, g, _ := qfData(rng, 1, 1, C, gGram)
		for i := range g { // not symmetric, same symmetric part
			g[i] += float64(i%7) * 1e-3
		}
		for i := 0; i < C; i++ {
			for j := 0; j < i; j++ {
				g[j*C+i] -= float64((i*C+j)%7) * 1e-3
			}
		}
		l := make([]float64, C*C)
		if !cholesky(l, g, C) {
			t.Fatalf("C=%d: Gram matrix not factored", C)
		}
		for i := 0; i < C; i++ {
			for j := 0; j <= i; j++ {
				var s float64
				for k := 0; k <= j; k++ {
					s += l[i*C+k] * l[j*C+k]
				}
				if want := (g[i*C+j] + g[j*C+i]) / 2; math.Abs(s-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Fatalf("C=%d: (L Lᵀ)[%d,%d] = %v, want %v", C, i, j, s, want)
				}
			}
		}
		for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
			h := append([]float64(nil), g...)
			h[(C-1)*C+C-1] = bad
			if cholesky(l, h, C) {
				t.Errorf("C=%d: G with %v on the diagonal factored", C, bad)
			}
		}
	}
}
