// SPDX-License-Identifier: Apache-2.0

package kernels

import (
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
