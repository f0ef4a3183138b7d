// SPDX-License-Identifier: Apache-2.0

package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Error bounds. The dispatched functions are checked against a float64
// reference and against their *Go version; when Impl is "go" they are the
// *Go version, and the same bounds hold. Measured with Impl = "avx2" on an
// AMD EPYC (Zen 3):
//
//   - Exp: max relative error vs float64 math.Exp 7.52e-8 (at x =
//     −59.337734) over every float32 in [−87.3, 88.7], a one-off
//     exhaustive run; TestExpSweep's 2^22 points find 7.51e-8. ExpGo, a
//     rounded float64, has 5.96e-8. Bound tested: 2e-7.
//   - Sigmoid, AddSigmoid: max relative error vs float64 1/(1+e^−x)
//     1.52e-7 (at x = −16.931076) over every float32 in [−87.3, 88.7], the
//     same exhaustive run; TestSigmoidSweep finds 1.47e-7. Bound tested:
//     5e-7 for x ≥ −80. Below −80 the result only has to be in [0, 1] and
//     within 4e-39 of σ(x): the AVX2 version's e^−x saturates at e^88.7,
//     so σ(x ≤ −88.7) ≈ 3.0e-39 instead of e^x.
//   - SoftplusSum: |got − want| ≤ 1e-6·|want| + 1e-6·len(z); the worst
//     case measured is 0.0044 of that bound (TestSoftplusSum logs it).
//   - Adam: v equals AdamGo's within 1 ulp, m within 1 ulp or 2^−23 of
//     |b1·m| + |(1−b1)·g| (m can cancel), p within 1e-6 of |p| + |step|.
//     The AVX2 version does AdamGo's operations in AdamGo's order without
//     FMA contraction, and the measured results are identical bit for bit
//     (TestAdam logs the count of differences: 0 by default); the slack is
//     for a Go compiler that fuses AdamGo's b·m + (1−b)·g into an FMA:
//     with GOAMD64=v3, about 28% of the elements differ, within these bounds.
const (
	expTol     = 2e-7
	sigmoidTol = 5e-7
	sigmoidAbs = 4e-39 // below x = −80
	softTol    = 1e-6
	adamTol    = 1e-6
)

// lengths are the slice lengths the tests run: every tail and the
// boundaries of the 8-lane blocks and of SoftplusSum's 4096-element chunks.
var lengths = func() []int {
	var ns []int
	for n := 0; n <= 40; n++ {
		ns = append(ns, n)
	}
	return append(ns, 1000, 4095, 4096, 4097, 8192+3, 10000)
}()

// valueSets are named generators of n inputs.
var valueSets = []struct {
	name string
	gen  func(r *rand.Rand, n int) []float32
}{
	{"random", func(r *rand.Rand, n int) []float32 { return uniform(r, n, -10, 10) }},
	{"large", func(r *rand.Rand, n int) []float32 { return uniform(r, n, -120, 120) }},
	{"near0", func(r *rand.Rand, n int) []float32 { return uniform(r, n, -1e-3, 1e-3) }},
	{"mixed", func(r *rand.Rand, n int) []float32 {
		xs := uniform(r, n, -30, 30)
		for i := range xs {
			if r.IntN(4) == 0 {
				xs[i] = extremes[r.IntN(len(extremes))]
			}
		}
		return xs
	}},
}

// extremes are the special inputs of the Exp and Sigmoid tests.
var extremes = []float32{
	0, float32(math.Copysign(0, -1)),
	88, -88, 88.7, -87.3, 88.72, -87.4, 89, -89, 100, -100, 1e30, -1e30,
	math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
	1e-40, -1e-40, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	1e-38, -1e-38, 1e-7, -1e-7, 0.5, -0.5, 1, -1,
	0.34657359, -0.34657359, 0.3465736, -0.3465736, // ±ln2/2, where n rounds
}

func uniform(r *rand.Rand, n int, lo, hi float64) []float32 {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return xs
}

// relErr is |got−want|/|want|, 0 when both are equal (infinities, zeros).
func relErr(got float32, want float64) float64 {
	g := float64(got)
	if g == want {
		return 0
	}
	return math.Abs(g-want) / math.Abs(want)
}

// ulpDiff is how many float32s lie between a and b (0 when equal).
func ulpDiff(a, b float32) int64 {
	ord := func(x float32) int64 {
		u := int64(math.Float32bits(x))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return d
}

func expRef(x float32) float64 { return math.Exp(float64(clampExp(x))) }

func sigmoidRef(x float32) float64 { return 1 / (1 + math.Exp(-float64(x))) }

// checkSigmoid reports whether got is an acceptable σ(x).
func checkSigmoid(got, x float32) (float64, bool) {
	if math.IsNaN(float64(x)) {
		return 0, math.IsNaN(float64(got))
	}
	if !(got >= 0 && got <= 1) {
		return math.Inf(1), false
	}
	want := sigmoidRef(x)
	if x < -80 {
		return 0, math.Abs(float64(got)-want) <= sigmoidAbs
	}
	e := relErr(got, want)
	return e, e <= sigmoidTol
}

func TestImpl(t *testing.T) {
	t.Logf("Impl = %q", Impl)
	if want := map[bool]string{true: "avx2", false: "go"}[useAVX2]; Impl != want {
		t.Errorf("Impl = %q, want %q", Impl, want)
	}
}

func TestExp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var worst, worstGo float64
	for _, vs := range valueSets {
		for _, n := range lengths {
			src := vs.gen(r, n)
			got := make([]float32, n)
			goOut := make([]float32, n)
			Exp(got, src)
			ExpGo(goOut, src)
			for i, x := range src {
				e := relErr(got[i], expRef(x))
				worst = max(worst, e)
				worstGo = max(worstGo, relErr(goOut[i], expRef(x)))
				if e > expTol || relErr(got[i], float64(goOut[i])) > expTol {
					t.Fatalf("%s n=%d: Exp(%g) = %g, ExpGo %g, float64 %g (rel %.3g)",
						vs.name, n, x, got[i], goOut[i], expRef(x), e)
				}
			}
		}
	}
	t.Logf("max relative error: Exp %.3g, ExpGo %.3g", worst, worstGo)
}

// TestExpSweep measures Exp's relative error on 2^22 evenly spaced points
// spanning the whole clamped range.
func TestExpSweep(t *testing.T) {
	const n = 1 << 22
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(-87.3 + (88.7+87.3)*float64(i)/(n-1))
	}
	got := make([]float32, n)
	Exp(got, src)
	var worst float64
	var at float32
	for i, x := range src {
		if e := relErr(got[i], expRef(x)); e > worst {
			worst, at = e, x
		}
	}
	t.Logf("max relative error %.3g at x = %g", worst, at)
	if worst > expTol {
		t.Errorf("max relative error %.3g > %g at x = %g", worst, expTol, at)
	}
}

func TestExpExtremes(t *testing.T) {
	src := append([]float32(nil), extremes...)
	src = append(src, float32(math.NaN()))
	got := make([]float32, len(src))
	goOut := make([]float32, len(src))
	Exp(got, src)
	ExpGo(goOut, src)
	for i, x := range src {
		if math.IsNaN(float64(x)) {
			if !math.IsNaN(float64(got[i])) {
				t.Errorf("Exp(NaN) = %g, want NaN", got[i])
			}
			continue
		}
		y := float64(got[i])
		if math.IsInf(y, 0) || math.IsNaN(y) || y < 0x1p-126 {
			t.Errorf("Exp(%g) = %g, want a normal float32", x, got[i])
		}
		if e := relErr(got[i], expRef(x)); e > expTol || relErr(got[i], float64(goOut[i])) > expTol {
			t.Errorf("Exp(%g) = %g, ExpGo %g, float64 %g", x, got[i], goOut[i], expRef(x))
		}
	}
}

func TestSigmoid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var worst float64
	for _, vs := range valueSets {
		for _, n := range lengths {
			src := vs.gen(r, n)
			got := make([]float32, n)
			goOut := make([]float32, n)
			Sigmoid(got, src)
			SigmoidGo(goOut, src)
			for i, x := range src {
				e, ok := checkSigmoid(got[i], x)
				worst = max(worst, e)
				if !ok {
					t.Fatalf("%s n=%d: Sigmoid(%g) = %g, want %g", vs.name, n, x, got[i], sigmoidRef(x))
				}
				if _, ok := checkSigmoid(goOut[i], x); !ok {
					t.Fatalf("%s n=%d: SigmoidGo(%g) = %g, want %g", vs.name, n, x, goOut[i], sigmoidRef(x))
				}
			}
			// In place.
			Sigmoid(src, src)
			for i := range src {
				if math.Float32bits(src[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%s n=%d: Sigmoid in place [%d] = %g, not %g", vs.name, n, i, src[i], got[i])
				}
			}
		}
	}
	t.Logf("max relative error for x ≥ −80: %.3g", worst)
}

// TestSigmoidSweep measures Sigmoid's relative error on 2^22 evenly spaced
// points of [−80, 20] (above 17, σ(x) rounds to 1).
func TestSigmoidSweep(t *testing.T) {
	const n = 1 << 22
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(-80 + 100*float64(i)/(n-1))
	}
	got := make([]float32, n)
	Sigmoid(got, src)
	var worst float64
	var at float32
	for i, x := range src {
		if e := relErr(got[i], sigmoidRef(x)); e > worst {
			worst, at = e, x
		}
	}
	t.Logf("max relative error %.3g at x = %g", worst, at)
	if worst > sigmoidTol {
		t.Errorf("max relative error %.3g > %g at x = %g", worst, sigmoidTol, at)
	}
}

func TestSigmoidExtremes(t *testing.T) {
	src := append([]float32(nil), extremes...)
	src = append(src, float32(math.NaN()), -80, -87, -88.7, -150)
	got := make([]float32, len(src))
	goOut := make([]float32, len(src))
	Sigmoid(got, src)
	SigmoidGo(goOut, src)
	for i, x := range src {
		if _, ok := checkSigmoid(got[i], x); !ok {
			t.Errorf("Sigmoid(%g) = %g, want %g", x, got[i], sigmoidRef(x))
		}
		if _, ok := checkSigmoid(goOut[i], x); !ok {
			t.Errorf("SigmoidGo(%g) = %g, want %g", x, goOut[i], sigmoidRef(x))
		}
	}
}

func TestAddSigmoid(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var worst float64
	for _, vs := range valueSets {
		for _, n := range lengths {
			x := vs.gen(r, n)
			b := uniform(r, n, -3, 3)
			got := make([]float32, n)
			goOut := make([]float32, n)
			AddSigmoid(got, x, b)
			AddSigmoidGo(goOut, x, b)
			for i := range got {
				s := x[i] + b[i]
				e, ok := checkSigmoid(got[i], s)
				worst = max(worst, e)
				if !ok {
					t.Fatalf("%s n=%d: AddSigmoid(%g+%g) = %g, want %g", vs.name, n, x[i], b[i], got[i], sigmoidRef(s))
				}
				if _, ok := checkSigmoid(goOut[i], s); !ok {
					t.Fatalf("%s n=%d: AddSigmoidGo(%g+%g) = %g, want %g", vs.name, n, x[i], b[i], goOut[i], sigmoidRef(s))
				}
			}
			// In place, dst = x.
			AddSigmoid(x, x, b)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%s n=%d: AddSigmoid in place [%d] = %g, not %g", vs.name, n, i, x[i], got[i])
				}
			}
		}
	}
	t.Logf("max relative error for x+b ≥ −80: %.3g", worst)
}

// softplusRef is Σ softplus(z) in float64, by the formula
// max(z, 0) + log1p(e^−|z|).
func softplusRef(z []float32) float64 {
	var s float64
	for _, v := range z {
		x := float64(v)
		s += max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
	}
	return s
}

func TestSoftplusSum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	type input struct {
		name string
		z    []float32
	}
	var ins []input
	for _, vs := range valueSets[:3] {
		for _, n := range lengths {
			ins = append(ins, input{fmt.Sprintf("%s n=%d", vs.name, n), vs.gen(r, n)})
		}
	}
	for i := range 8 {
		ins = append(ins, input{fmt.Sprintf("row784 #%d", i), uniform(r, 784, -30, 30)})
	}
	for _, n := range []int{784, 4097, 100000} {
		ins = append(ins,
			input{fmt.Sprintf("zeros n=%d", n), make([]float32, n)}, // every factor 2
			input{fmt.Sprintf("large+ n=%d", n), uniform(r, n, 50, 1e4)},
			input{fmt.Sprintf("large- n=%d", n), uniform(r, n, -1e4, -50)},
			input{fmt.Sprintf("huge± n=%d", n), uniform(r, n, -1e30, 1e30)})
	}
	var worst float64
	for _, in := range ins {
		got, goSum, want := SoftplusSum(in.z), SoftplusSumGo(in.z), softplusRef(in.z)
		bound := softTol*math.Abs(want) + softTol*float64(len(in.z))
		if bound == 0 {
			bound = 1e-300
		}
		worst = max(worst, math.Abs(got-want)/bound)
		if math.Abs(got-want) > bound || math.Abs(got-goSum) > bound {
			t.Errorf("%s: SoftplusSum = %.17g, SoftplusSumGo %.17g, float64 %.17g", in.name, got, goSum, want)
		}
	}
	t.Logf("worst error: %.3g of the bound 1e-6·|sum| + 1e-6·n", worst)
}

func TestSoftplusSumSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		z    []float32
		want float64
	}{
		{nil, 0},
		{[]float32{0}, math.Ln2},
		{[]float32{inf}, math.Inf(1)},
		{[]float32{-inf, 0, 0, 0, 0, 0, 0, 0, 0}, 8 * math.Ln2},
		{[]float32{1, 2, 3, 4, 5, 6, 7, 8, float32(math.NaN())}, math.NaN()},
	} {
		got := SoftplusSum(c.z)
		if !(got == c.want || math.Abs(got-c.want) <= 1e-6*math.Abs(c.want) ||
			math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("SoftplusSum(%v) = %g, want %g", c.z, got, c.want)
		}
	}
}

func TestAdam(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
	var differ, total int
	defer func() { t.Logf("%d of %d elements differ from AdamGo's in any bit", differ, total) }()
	for _, step := range []int{1, 10, 1000} {
		c1 := float32(1 / (1 - math.Pow(b1, float64(step))))
		c2 := float32(1 / (1 - math.Pow(b2, float64(step))))
		for _, n := range lengths {
			p := uniform(r, n, -1, 1)
			g := uniform(r, n, -1, 1)
			m := uniform(r, n, -0.1, 0.1)
			v := uniform(r, n, 0, 0.01)
			for i := range g {
				switch r.IntN(8) {
				case 0:
					g[i] = 0
				case 1:
					g[i] *= 1e4
				case 2:
					g[i] *= 1e-6
				}
			}
			p0, g0, m0, v0 := clone(p), clone(g), clone(m), clone(v)
			pg, gg, mg, vg := clone(p), clone(g), clone(m), clone(v)
			Adam(p, g, m, v, b1, b2, c1, c2, lr, eps)
			AdamGo(pg, gg, mg, vg, b1, b2, c1, c2, lr, eps)
			f1, f2 := float64(float32(b1)), float64(float32(b2))
			for i := range p {
				if g[i] != 0 {
					t.Fatalf("step %d n=%d: g[%d] = %g, not zeroed", step, n, i, g[i])
				}
				// m can cancel, so 1 ulp of its terms can be many ulps of
				// m: its errors are relative to its terms' size. p moves by
				// the step, which is computed from m.
				gi, mi, vi := float64(g0[i]), float64(m0[i]), float64(v0[i])
				mScale := f1*math.Abs(mi) + float64(1-float32(b1))*math.Abs(gi)
				dp := math.Abs(float64(pg[i]) - float64(p0[i]))
				if ulpDiff(m[i], mg[i]) > 1 && math.Abs(float64(m[i]-mg[i])) > 0x1p-23*mScale ||
					ulpDiff(v[i], vg[i]) > 1 ||
					math.Abs(float64(p[i]-pg[i])) > adamTol*(math.Abs(float64(pg[i]))+dp) {
					t.Fatalf("step %d n=%d [%d]: p, m, v = %g %g %g, AdamGo %g %g %g",
						step, n, i, p[i], m[i], v[i], pg[i], mg[i], vg[i])
				}
				// The float64 reference, from the same float32 parameters.
				m64 := f1*mi + float64(1-float32(b1))*gi
				v64 := f2*vi + float64(1-float32(b2))*gi*gi
				p64 := float64(p0[i]) - float64(float32(lr))*(m64*float64(c1))/
					(math.Sqrt(v64*float64(c2))+float64(float32(eps)))
				if math.Abs(float64(m[i])-m64) > adamTol*mScale || relErr(v[i], v64) > adamTol ||
					math.Abs(float64(p[i])-p64) > adamTol*(math.Abs(p64)+math.Abs(p64-float64(p0[i]))) {
					t.Fatalf("step %d n=%d [%d]: p, m, v = %g %g %g, float64 %g %g %g",
						step, n, i, p[i], m[i], v[i], p64, m64, v64)
				}
				if p[i] != pg[i] || m[i] != mg[i] || v[i] != vg[i] {
					differ++
				}
				total++
			}
		}
	}
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

func TestShortSlicesPanic(t *testing.T) {
	a, b := make([]float32, 9), make([]float32, 8)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"vec.Exp: len(src) = 8 < len(dst) = 9", func() { Exp(a, b) }},
		{"vec.Sigmoid: len(src) = 8 < len(dst) = 9", func() { Sigmoid(a, b) }},
		{"vec.AddSigmoid: len(x) = 8 < len(dst) = 9", func() { AddSigmoid(a, b, a) }},
		{"vec.AddSigmoid: len(b) = 8 < len(dst) = 9", func() { AddSigmoid(a, a, b) }},
		{"vec.Adam: len(g) = 8 < len(p) = 9", func() { Adam(a, b, a, a, 0.9, 0.999, 1, 1, 1e-3, 1e-8) }},
		{"vec.Adam: len(m) = 8 < len(p) = 9", func() { Adam(a, a, b, a, 0.9, 0.999, 1, 1, 1e-3, 1e-8) }},
		{"vec.Adam: len(v) = 8 < len(p) = 9", func() { Adam(a, a, a, b, 0.9, 0.999, 1, 1, 1e-3, 1e-8) }},
		{"vec.Add: len(y) = 8 < len(dst) = 9", func() { Add(a, a, b) }},
		{"vec.Mul: len(x) = 8 < len(dst) = 9", func() { Mul(a, b, a) }},
		{"vec.ScaleMul: len(y) = 8 < len(dst) = 9", func() { ScaleMul(a, 2, a, b) }},
		{"vec.ScaleDiff: len(x) = 8 < len(dst) = 9", func() { ScaleDiff(a, a, b, 2) }},
		{"vec.SigmoidBackward: len(g) = 8 < len(dst) = 9", func() { SigmoidBackward(a, a, b) }},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, c.name) {
					t.Errorf("panic %q, want %q", msg, c.name)
				}
			}()
			c.f()
		}()
	}
	// Longer slices are fine.
	Exp(b, a)
	Adam(b, a, a, a, 0.9, 0.999, 1, 1, 1e-3, 1e-8)
}

// TestNoWritePastEnd checks that the elements after dst are left alone.
func TestNoWritePastEnd(t *testing.T) {
	const canary = float32(-12345)
	for n := 0; n <= 40; n++ {
		x := uniformFixed(n + 8)
		for name, f := range map[string]func(dst []float32){
			"Exp":                  func(dst []float32) { Exp(dst, x) },
			"Sigmoid":              func(dst []float32) { Sigmoid(dst, x) },
			"AddSigmoid":           func(dst []float32) { AddSigmoid(dst, x, x) },
			"Add":                  func(dst []float32) { Add(dst, x, x) },
			"SigmoidDeriv":         func(dst []float32) { SigmoidDeriv(dst, x) },
			"SigmoidBackward":      func(dst []float32) { SigmoidBackward(dst, x, x) },
			"SigmoidDerivBackward": func(dst []float32) { SigmoidDerivBackward(dst, x, x) },
			"ReluBackward":         func(dst []float32) { ReluBackward(dst, x, x) },
			"ScaleDiff":            func(dst []float32) { ScaleDiff(dst, x, x, 2) },
			"SigmoidSSEGrad":       func(dst []float32) { SigmoidSSEGrad(dst, x, x, 2) },
			"ScaleMul":             func(dst []float32) { ScaleMul(dst, 2, x, x) },
			"Adam": func(dst []float32) {
				g, m, v := clone(x), clone(x), clone(x)
				for i := range v {
					v[i] = v[i] * v[i]
				}
				Adam(dst, g, m, v, 0.9, 0.999, 1, 1, 1e-3, 1e-8)
			},
		} {
			buf := make([]float32, n+8)
			for i := range buf {
				buf[i] = canary
			}
			f(buf[:n])
			for i := n; i < len(buf); i++ {
				if buf[i] != canary {
					t.Fatalf("%s n=%d: wrote %g at %d", name, n, buf[i], i)
				}
			}
		}
	}
}

func uniformFixed(n int) []float32 {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i%13) - 6
	}
	return xs
}

func TestNoAllocs(t *testing.T) {
	const n = 4096 + 13
	x, y, z := make([]float32, n), make([]float32, n), make([]float32, n)
	w := make([]float32, n)
	for name, f := range map[string]func(){
		"Exp":                  func() { Exp(y, x) },
		"Sigmoid":              func() { Sigmoid(y, x) },
		"AddSigmoid":           func() { AddSigmoid(y, x, z) },
		"Add":                  func() { Add(y, x, z) },
		"SigmoidDeriv":         func() { SigmoidDeriv(y, x) },
		"SigmoidBackward":      func() { SigmoidBackward(y, x, z) },
		"SigmoidDerivBackward": func() { SigmoidDerivBackward(y, x, z) },
		"ReluBackward":         func() { ReluBackward(y, x, z) },
		"ScaleDiff":            func() { ScaleDiff(y, x, z, 2) },
		"SigmoidSSEGrad":       func() { SigmoidSSEGrad(y, x, z, 2) },
		"SqDist":               func() { SqDist(x, z) },
		"ScaleMul":             func() { ScaleMul(y, 2, x, z) },
		"SoftplusSum":          func() { SoftplusSum(x) },
		"Adam":                 func() { Adam(x, y, z, w, 0.9, 0.999, 1, 1, 1e-3, 1e-8) },
	} {
		if a := testing.AllocsPerRun(10, f); a != 0 {
			t.Errorf("%s: %v allocations", name, a)
		}
	}
}

// Benchmarks: <func>/<impl>/n=<n>, reporting ns/elem; impl "avx2" is the
// dispatched function (skipped when Impl is "go"), "go" the *Go version.

var benchSizes = []int{1000, 1 << 20}

func benchImpls(b *testing.B, run func(b *testing.B, n int, asm bool)) {
	for _, impl := range []string{"avx2", "go"} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/n=%d", impl, n), func(b *testing.B) {
				if impl == "avx2" && Impl != "avx2" {
					b.Skip("no AVX2 assembly")
				}
				run(b, n, impl == "avx2")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
			})
		}
	}
}

func BenchmarkExp(b *testing.B) {
	benchImpls(b, func(b *testing.B, n int, asm bool) {
		src := uniform(rand.New(rand.NewPCG(1, 1)), n, -10, 10)
		dst := make([]float32, n)
		f := ExpGo
		if asm {
			f = Exp
		}
		for b.Loop() {
			f(dst, src)
		}
	})
}

func BenchmarkSigmoid(b *testing.B) {
	benchImpls(b, func(b *testing.B, n int, asm bool) {
		src := uniform(rand.New(rand.NewPCG(1, 1)), n, -10, 10)
		dst := make([]float32, n)
		f := SigmoidGo
		if asm {
			f = Sigmoid
		}
		for b.Loop() {
			f(dst, src)
		}
	})
}

func BenchmarkAddSigmoid(b *testing.B) {
	benchImpls(b, func(b *testing.B, n int, asm bool) {
		r := rand.New(rand.NewPCG(1, 1))
		x, bias := uniform(r, n, -10, 10), uniform(r, n, -1, 1)
		dst := make([]float32, n)
		f := AddSigmoidGo
		if asm {
			f = AddSigmoid
		}
		for b.Loop() {
			f(dst, x, bias)
		}
	})
}

var sinkF64 float64

func BenchmarkSoftplusSum(b *testing.B) {
	benchImpls(b, func(b *testing.B, n int, asm bool) {
		z := uniform(rand.New(rand.NewPCG(1, 1)), n, -30, 30)
		f := SoftplusSumGo
		if asm {
			f = SoftplusSum
		}
		for b.Loop() {
			sinkF64 = f(z)
		}
	})
}

func BenchmarkAdam(b *testing.B) {
	benchImpls(b, func(b *testing.B, n int, asm bool) {
		r := rand.New(rand.NewPCG(1, 1))
		p, m, v := uniform(r, n, -1, 1), uniform(r, n, -0.1, 0.1), uniform(r, n, 0, 0.01)
		g := make([]float32, n)
		f := AdamGo
		if asm {
			f = Adam
		}
		for b.Loop() {
			f(p, g, m, v, 0.9, 0.999, 1.1, 1.01, 1e-3, 1e-8)
		}
	})
}

// TestAllFinite puts each special value at every position of slices of
// every length up to 40 (so in the vector body and in the tail) and checks
// AllFinite against AllFiniteGo; the largest finite values, −0 and
// denormals are finite.
func TestAllFinite(t *testing.T) {
	finite := []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40, -3.5}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc0cae5), math.Float32frombits(0xff800001)}
	for n := 0; n <= 40; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = finite[i%len(finite)]
		}
		if !AllFinite(x) || !AllFiniteGo(x) {
			t.Fatalf("n=%d: finite values reported non-finite", n)
		}
		for i := 0; i < n; i++ {
			for _, b := range bad {
				y := clone(x)
				y[i] = b
				if AllFinite(y) || AllFiniteGo(y) {
					t.Fatalf("n=%d: %v at %d not found", n, b, i)
				}
			}
		}
	}
	big := make([]float32, 1<<20+3)
	if !AllFinite(big) {
		t.Fatal("zeros reported non-finite")
	}
	big[1<<19+5] = float32(math.Inf(1))
	if AllFinite(big) {
		t.Fatal("+Inf in a long slice not found")
	}
}

// Add and ScaleMul round as their Go versions do (one float32 operation
// per step, in the same order), so the results must be equal bit for bit,
// also when dst is one of the inputs.
func TestAddScaleMul(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range lengths {
		x, y := uniform(r, n, -10, 10), uniform(r, n, -1e3, 1e3)
		got, want := make([]float32, n), make([]float32, n)
		Add(got, x, y)
		AddGo(want, x, y)
		sameBits(t, fmt.Sprintf("Add n=%d", n), got, want)
		for i := range want { // and against float64: one rounding
			if float64(want[i]) != float64(float32(float64(x[i])+float64(y[i]))) {
				t.Fatalf("AddGo n=%d [%d]: %g + %g = %g", n, i, x[i], y[i], want[i])
			}
		}
		acc := clone(x)
		Add(acc, acc, y)
		sameBits(t, fmt.Sprintf("Add in place n=%d", n), acc, want)

		w := [4][]float32{uniform(r, n, -3, 3), uniform(r, n, -3, 3), uniform(r, n, -3, 3), uniform(r, n, -3, 3)}
		copy(got, x)
		copy(want, x)
		AddSq4(got, w[0], w[1], w[2], w[3])
		AddSq4Go(want, w[0], w[1], w[2], w[3])
		sameBits(t, fmt.Sprintf("AddSq4 n=%d", n), got, want)
		for i := range want {
			ref := float64(x[i])
			for _, wr := range w {
				ref += float64(wr[i]) * float64(wr[i])
			}
			if math.Abs(float64(want[i])-ref) > 1e-6*(math.Abs(ref)+40) {
				t.Fatalf("AddSq4Go n=%d [%d]: %g, float64 %g", n, i, want[i], ref)
			}
		}

		Mul(got, x, y)
		MulGo(want, x, y)
		sameBits(t, fmt.Sprintf("Mul n=%d", n), got, want)
		for i := range want {
			if float64(want[i]) != float64(float32(float64(x[i])*float64(y[i]))) {
				t.Fatalf("MulGo n=%d [%d]: %g · %g = %g", n, i, x[i], y[i], want[i])
			}
		}

		ScaleMul(got, 0.37, x, y)
		ScaleMulGo(want, 0.37, x, y)
		sameBits(t, fmt.Sprintf("ScaleMul n=%d", n), got, want)
		for i := range want { // two roundings: within 2^−22 of the float64 product
			w := float64(float32(0.37)) * float64(x[i]) * float64(y[i])
			if math.Abs(float64(want[i])-w) > 0x1p-22*math.Abs(w) {
				t.Fatalf("ScaleMulGo n=%d [%d] = %g, float64 %g", n, i, want[i], w)
			}
		}
	}
}

func sameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s [%d]: %g, want %g", name, i, got[i], want[i])
		}
	}
}

// The activations' derivatives: bit for bit their Go versions (the same
// float32 operations in the same order), on every length, special values
// included; the Go versions against float64.
func TestActivationDerivatives(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30}
	for _, n := range lengths {
		a, g := uniform(r, n, -0.5, 1.5), uniform(r, n, -10, 10)
		for i := range a {
			if r.IntN(6) == 0 {
				a[i] = special[r.IntN(len(special))]
			}
			if r.IntN(6) == 0 {
				g[i] = special[r.IntN(len(special))]
			}
		}
		got, want := make([]float32, n), make([]float32, n)
		SigmoidDeriv(got, a)
		SigmoidDerivGo(want, a)
		sameBits(t, fmt.Sprintf("SigmoidDeriv n=%d", n), got, want)
		for _, f := range []struct {
			name     string
			vec, gof func(dst, a, g []float32)
			ref      func(a, g float64) float64
		}{
			{"SigmoidBackward", SigmoidBackward, SigmoidBackwardGo, func(a, g float64) float64 { return g * a * (1 - a) }},
			{"SigmoidDerivBackward", SigmoidDerivBackward, SigmoidDerivBackwardGo, func(a, g float64) float64 { return g * (1 - 2*a) }},
			{"ReluBackward", ReluBackward, ReluBackwardGo, func(a, g float64) float64 {
				if a > 0 {
					return g
				}
				return 0
			}},
		} {
			f.vec(got, a, g)
			f.gof(want, a, g)
			sameBits(t, fmt.Sprintf("%s n=%d", f.name, n), got, want)
			for i := range want { // a few roundings: within 4 ulp-scale of float64
				w := f.ref(float64(a[i]), float64(g[i]))
				if math.IsNaN(w) || math.IsInf(w, 0) || math.Abs(w) > 1e30 {
					continue
				}
				scale := math.Abs(float64(g[i])) * (math.Abs(float64(a[i])) + 1) * (math.Abs(float64(a[i])) + 1)
				if math.Abs(float64(want[i])-w) > 0x1p-21*scale+1e-38 {
					t.Fatalf("%sGo n=%d [%d]: a=%g g=%g: %g, float64 %g", f.name, n, i, a[i], g[i], want[i], w)
				}
			}
		}
	}
}

// The loss's kernels: bit for bit their Go versions; SqDist also against
// a float64 sum.
func TestLossKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range lengths {
		a, x := uniform(r, n, 0, 1), uniform(r, n, 0, 1)
		got, want := make([]float32, n), make([]float32, n)
		ScaleDiff(got, a, x, -0.37)
		ScaleDiffGo(want, a, x, -0.37)
		sameBits(t, fmt.Sprintf("ScaleDiff n=%d", n), got, want)
		SigmoidSSEGrad(got, a, x, 1.3)
		SigmoidSSEGradGo(want, a, x, 1.3)
		sameBits(t, fmt.Sprintf("SigmoidSSEGrad n=%d", n), got, want)
		inPlace := clone(a)
		SigmoidSSEGrad(inPlace, inPlace, x, 1.3)
		sameBits(t, fmt.Sprintf("SigmoidSSEGrad in place n=%d", n), inPlace, want)
		s, sg := SqDist(a, x), SqDistGo(a, x)
		if math.Float64bits(s) != math.Float64bits(sg) {
			t.Fatalf("SqDist n=%d: %v, SqDistGo %v", n, s, sg)
		}
		var ref float64
		for i := range a {
			d := float64(a[i] - x[i])
			ref += d * d
		}
		if math.Abs(s-ref) > 1e-12*(ref+1) {
			t.Fatalf("SqDist n=%d: %v, float64 %v", n, s, ref)
		}
	}
}

// AdamKeep updates p, m and v exactly as Adam does and leaves g alone.
func TestAdamKeep(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, n := range lengths {
		p, g := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
		m, v := uniform(r, n, -0.1, 0.1), uniform(r, n, 0, 0.01)
		p2, g2, m2, v2 := clone(p), clone(g), clone(m), clone(v)
		g0 := clone(g)
		Adam(p, g, m, v, 0.9, 0.999, 1.5, 1.2, 1e-3, 1e-8)
		AdamKeep(p2, g2, m2, v2, 0.9, 0.999, 1.5, 1.2, 1e-3, 1e-8)
		sameBits(t, fmt.Sprintf("AdamKeep p n=%d", n), p2, p)
		sameBits(t, fmt.Sprintf("AdamKeep m n=%d", n), m2, m)
		sameBits(t, fmt.Sprintf("AdamKeep v n=%d", n), v2, v)
		sameBits(t, fmt.Sprintf("AdamKeep g n=%d", n), g2, g0)
	}
}
