// SPDX-License-Identifier: Apache-2.0

package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/kernels"
	"gonum.org/v1/gonum/floats/scalar"
)

// Impl is an implementation of the kernels, over host slices. Each method
// computes what the function of package kernels with the same name and
// arguments computes (GatherRows and HasNonFinite: the functions of this
// package), in float32, and returns an error only when it could not run
// (a device or launch failure), never for a wrong result.
//
// Where a kernel's documentation allows an output to alias an input, the
// suite may pass the same slice for both (InPlaceTest): a device
// implementation must then give both the same device buffer.
type Impl interface {
	BiasAct(out, xw, b []float32, rows, n int, act kernels.Act) error
	ActBackward(out, a, g []float32, act kernels.Act) error
	ActDeriv(out, a []float32, act kernels.Act) error
	ActDerivBackward(out, a, g []float32, act kernels.Act) error
	Apply(out, z []float32, act kernels.Act) error
	ColSum(out, x []float32, rows, n int) error

	ReconLoss(out, z, x []float32, rows, n int, outAct kernels.Act, bce bool) error
	ReconGrad(out, z, x, g []float32, rows, n int, outAct kernels.Act, bce bool) error
	// LossCombine takes at most 4 terms (the graph uses up to 3).
	LossCombine(out []float32, terms [][]float32, w []float64, mask, invn []float32) error
	MaskWeights(out, mask, invn, g []float32, w float64) error

	ColSumSq(out, w []float32, n0, n1 int) error
	ColSumSqGrad(out, w, g []float32, n0, n1 int) error
	DiagPen(out, d, c []float32, B, n int) error
	DiagPenGradD(out, d, c, g []float32, B, n int) error
	DiagPenGradC(out, d, g []float32, B, n int) error
	OuterScale(t, dL, w, dP []float32, B, nL, P int) error
	OuterScaleGradDL(out, g, w, dP []float32, B, nL, P int) error
	OuterScaleGradW(out, g, dL, dP []float32, B, nL, P int) error
	OuterScaleGradDP(out, g, dL, w []float32, B, nL, P int) error
	ScaleCols(out, p, d []float32, B, R, C int) error
	RowDot(out, g, p []float32, B, R, C int) error

	// The quadratic form's BLAS versions; u and s are scratch.
	QuadFormBLAS(out, t, g, u []float32, B, R, C int) error
	QuadFormGradTBLAS(dt, t, g, gout, s []float32, B, R, C int) error
	QuadFormGradGBLAS(dg, t, gout, u []float32, B, R, C int) error

	Add(out, a, b []float32) error
	Sub(out, a, b []float32) error
	Scale(out, a []float32, s float32) error
	MatMul(c, a, b []float32, m, n, k int, ta, tb bool) error
	AdamStep(p, g, m, v []float32, t int, h kernels.AdamHyper) error

	GatherRows(x, mask, invn, data []float32, idx []int32, batch, dim int) error
	HasNonFinite(x []float32) (bool, error)
	SoftmaxXent(out, z, y []float32, rows, n int) error
	SoftmaxXentGrad(out, z, y, g []float32, rows, n int) error
}

// Suite runs every kernel's test against impl, each as a subtest.
func Suite(t *testing.T, impl Impl) {
	for _, c := range []struct {
		name string
		test func(*testing.T, Impl)
	}{
		{"BiasAct", BiasActTest},
		{"ActBackward", ActBackwardTest},
		{"ActDeriv", ActDerivTest},
		{"ActDerivBackward", ActDerivBackwardTest},
		{"Apply", ApplyTest},
		{"ColSum", ColSumTest},
		{"ReconLoss", ReconLossTest},
		{"ReconGrad", ReconGradTest},
		{"LossCombine", LossCombineTest},
		{"MaskWeights", MaskWeightsTest},
		{"ColSumSq", ColSumSqTest},
		{"ColSumSqGrad", ColSumSqGradTest},
		{"DiagPen", DiagPenTest},
		{"DiagPenGradD", DiagPenGradDTest},
		{"DiagPenGradC", DiagPenGradCTest},
		{"OuterScale", OuterScaleTest},
		{"OuterScaleGradDL", OuterScaleGradDLTest},
		{"OuterScaleGradW", OuterScaleGradWTest},
		{"OuterScaleGradDP", OuterScaleGradDPTest},
		{"ScaleCols", ScaleColsTest},
		{"RowDot", RowDotTest},
		{"QuadFormBLAS", QuadFormBLASTest},
		{"QuadFormGradTBLAS", QuadFormGradTBLASTest},
		{"QuadFormGradGBLAS", QuadFormGradGBLASTest},
		{"Add", AddTest},
		{"Sub", SubTest},
		{"Scale", ScaleTest},
		{"MatMul", MatMulTest},
		{"AdamStep", AdamStepTest},
		{"GatherRows", GatherRowsTest},
		{"HasNonFinite", HasNonFiniteTest},
		{"InPlace", InPlaceTest},
		{"SoftmaxXent", SoftmaxXentTest},
		{"SoftmaxXentGrad", SoftmaxXentGradTest},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, impl) })
	}
}

// Tol is the abs/rel tolerance of a float32 result against the float64
// evaluation of its reference: llm.c's fp32 tolerance (dev/cuda/common.h),
// the one caetrain's style sets for float32 kernels.
const Tol = 1e-5

const (
	// GuardLen is the number of guard elements on each side of an output.
	GuardLen = 16
	// GuardBits is the NaN payload the guards hold.
	GuardBits = 0x7fc0_cae5
	// unsetBits is the NaN payload an output holds before the call.
	unsetBits = 0x7fc0_0bad
)

var acts = []kernels.Act{kernels.Linear, kernels.Sigmoid, kernels.Tanh, kernels.ReLU}

// args tracks one call's arguments: outputs live between guards, inputs
// must come back unchanged.
type args struct {
	ins  []inArg
	outs []outArg
}

type inArg struct {
	name string
	x    []float32
	orig []float32
}

type outArg struct {
	name string
	all  []float32 // GuardLen, the output, GuardLen
}

// in records x as an input and returns it.
func (a *args) in(name string, x []float32) []float32 {
	a.ins = append(a.ins, inArg{name, x, append([]float32(nil), x...)})
	return x
}

// out returns a guarded output of n elements, all NaN.
func (a *args) out(name string, n int) []float32 {
	all := make([]float32, n+2*GuardLen)
	for i := range all {
		all[i] = math.Float32frombits(GuardBits)
	}
	o := all[GuardLen : GuardLen+n : GuardLen+n]
	for i := range o {
		o[i] = math.Float32frombits(unsetBits)
	}
	a.outs = append(a.outs, outArg{name, all})
	return o
}

// inout returns a guarded copy of x, for an argument updated in place.
func (a *args) inout(name string, x []float32) []float32 {
	o := a.out(name, len(x))
	copy(o, x)
	return o
}

// check fails t if a guard changed or an input did.
func (a *args) check(t *testing.T) {
	t.Helper()
	for _, o := range a.outs {
		n := len(o.all) - 2*GuardLen
		for i, v := range o.all {
			if i >= GuardLen && i < GuardLen+n {
				continue
			}
			if math.Float32bits(v) != GuardBits {
				t.Errorf("%s: guard element %d (of a %d-element output) overwritten with %v: out-of-bounds write", o.name, i-GuardLen, n, v)
				break
			}
		}
	}
	for _, in := range a.ins {
		for i, v := range in.x {
			if math.Float32bits(v) != math.Float32bits(in.orig[i]) {
				t.Errorf("input %s[%d] changed from %v to %v", in.name, i, in.orig[i], v)
				break
			}
		}
	}
}

// near fails t unless got[i] is within tol (abs or rel) of want[i] for
// every i; it reports the first mismatches, their count and the largest
// difference.
func near(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	bad, maxd, maxi := 0, 0.0, -1
	var msg string
	for i, w := range want {
		g := float64(got[i])
		d := math.Abs(g - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > maxd || maxi < 0 {
			maxd, maxi = d, i
		}
		if scalar.EqualWithinAbsOrRel(g, w, tol, tol) || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		if bad < 5 {
			note := ""
			if math.Float32bits(got[i]) == unsetBits {
				note = " (never written)"
			}
			msg += fmt.Sprintf("\n\t[%d] want %.9g, got %.9g%s", i, w, g, note)
		}
		bad++
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ by more than abs/rel %g; largest difference %.3g at [%d]:%s",
			what, bad, len(want), tol, maxd, maxi, msg)
	}
}

// run fails t now if err is not nil.
func run(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// newRNG is a fixed generator for one test.
func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6361657472616e)) } // "caetran"

// uniform is n draws from U[lo, hi).
func uniform(rng *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return x
}

// normal is n draws from N(0, sd²).
func normal(rng *rand.Rand, n int, sd float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(sd * rng.NormFloat64())
	}
	return x
}

// activated is φ(z) for z ~ N(0, 4): what an activation's output holds.
func activated(rng *rand.Rand, n int, act kernels.Act) []float32 {
	z := normal(rng, n, 2)
	kernels.Apply(z, z, act)
	return z
}

// f64 converts x to float64.
func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}
