// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// diagModel returns an evaluator over Glorot weights and random biases (so
// that ReLU units are not all on, and sigmoid units sit away from 0.5).
func diagModel(t *testing.T, arch []int, act graph.Activation, seed uint64) *Evaluator {
	t.Helper()
	spec := graph.Spec{Arch: arch, Act: act, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1}
	p, err := graph.NewParams(spec, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	GlorotInit(p, seed)
	rng := rand.New(rand.NewPCG(seed, 77))
	for i, ps := range p.Shapes {
		if len(ps.Shape) == 1 {
			for j, d := 0, p.Tensors[i].Data().([]float32); j < len(d); j++ {
				d[j] = float32(0.5 * rng.NormFloat64())
			}
		}
	}
	ev, err := NewEvaluator(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ev.Close)
	return ev
}

// uniformSamples returns n samples of dim values uniform in [0,1].
func uniformSamples(n, dim int, seed uint64) Samples {
	rng := rand.New(rand.NewPCG(seed, 5))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	return Samples{X: x, N: n, Dim: dim}
}

var diagCases = []struct {
	arch []int
	act  graph.Activation
}{
	{[]int{10, 7}, graph.Sigmoid},
	{[]int{10, 7}, graph.Tanh},
	{[]int{10, 7}, graph.ReLU},
	{[]int{10, 8, 6}, graph.Sigmoid},
	{[]int{10, 8, 6}, graph.ReLU},
	{[]int{10, 9, 12, 5}, graph.Tanh},
	{[]int{10, 9, 12, 5}, graph.ReLU},
	{[]int{6, 12}, graph.Sigmoid}, // code wider than the input: rank ≤ 6
}

func caseName(arch []int, act graph.Activation) string { return fmt.Sprintf("%v-%s", arch, act) }

// TestEncodeMatchesFloat64Forward: the graph's float32 codes (Encode) and
// the diagnostics' float64 forward pass agree, over more than one batch.
func TestEncodeMatchesFloat64Forward(t *testing.T) {
	for _, tc := range diagCases {
		t.Run(caseName(tc.arch, tc.act), func(t *testing.T) {
			ev := diagModel(t, tc.arch, tc.act, 3)
			s := uniformSamples(EvalBatch+37, tc.arch[0], 4)
			got, err := ev.Encode(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			width := tc.arch[len(tc.arch)-1]
			if len(got) != s.N*width {
				t.Fatalf("%d code values, want %d", len(got), s.N*width)
			}
			e, err := newEncoder64(ev.Params)
			if err != nil {
				t.Fatal(err)
			}
			idx := make([]int, s.N)
			for i := range idx {
				idx[i] = i
			}
			want := e.forward(rowsFloat64(s, idx)).RawMatrix().Data
			for i := range got {
				// float32 forward of O(1) values through ≤ 3 layers of
				// width ≤ 12: a few float32 ulps (1.2e-7) per operation.
				if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5 {
					t.Fatalf("code value %d: graph %v, float64 forward %v", i, got[i], want[i])
				}
			}
			if part, _ := ev.Encode(s, 3); len(part) != 3*width {
				t.Errorf("Encode(s, 3) gave %d values, want %d", len(part), 3*width)
			}
		})
	}
}

// TestJacobianMatchesFiniteDifferences checks the plain-Go Jacobian against
// central differences of the codes the Gorgonia graph computes.
func TestJacobianMatchesFiniteDifferences(t *testing.T) {
	for _, tc := range diagCases {
		t.Run(caseName(tc.arch, tc.act), func(t *testing.T) {
			ev := diagModel(t, tc.arch, tc.act, 11)
			n0, nL := tc.arch[0], tc.arch[len(tc.arch)-1]
			x := uniformSamples(1, n0, 12).X
			J, err := ev.Jacobian(x)
			if err != nil {
				t.Fatal(err)
			}
			if r, c := J.Dims(); r != nL || c != n0 {
				t.Fatalf("Jacobian is %d×%d, want %d×%d", r, c, nL, n0)
			}
			// Rows 2i and 2i+1 are x ± εe_i.
			const eps = 1e-2
			pert := Samples{X: make([]float32, 2*n0*n0), N: 2 * n0, Dim: n0}
			for i := 0; i < n0; i++ {
				copy(pert.Row(2*i), x)
				copy(pert.Row(2*i+1), x)
				pert.Row(2 * i)[i] += eps
				pert.Row(2*i + 1)[i] -= eps
			}
			h, err := ev.Encode(pert, 0)
			if err != nil {
				t.Fatal(err)
			}
			fd := mat.NewDense(nL, n0, nil)
			for i := 0; i < n0; i++ {
				// The step actually taken, after float32 rounding of x±ε.
				step := float64(pert.Row(2 * i)[i]) - float64(pert.Row(2*i + 1)[i])
				for j := 0; j < nL; j++ {
					fd.Set(j, i, (float64(h[2*i*nL+j])-float64(h[(2*i+1)*nL+j]))/step)
				}
			}
			var diff mat.Dense
			diff.Sub(J, fd)
			rel := mat.Norm(&diff, 2) / mat.Norm(J, 2)
			// Central differences: truncation O(ε²)·h''' ≈ 1e-4 relative;
			// float32 codes (ulp 6e-8 near 0.5) over a 2e-2 step add ≈ 3e-6
			// per entry. ReLU is piecewise linear, exact unless a unit
			// crosses its kink within ε (not at this seed).
			if rel > 1e-3 {
				t.Errorf("‖J − J_fd‖_F/‖J‖_F = %.3g, want ≤ 1e-3", rel)
			}
		})
	}
}

// TestSpectrumFrobeniusIdentity: Σσ² over the full spectrum equals
// ‖J‖²_F as the training graph's exact penalty computes it
// (test_jacobian_fro2), and the spectrum is sorted and the right length.
func TestSpectrumFrobeniusIdentity(t *testing.T) {
	for _, tc := range diagCases {
		t.Run(caseName(tc.arch, tc.act), func(t *testing.T) {
			ev := diagModel(t, tc.arch, tc.act, 21)
			s := uniformSamples(40, tc.arch[0], 22)
			want, err := ev.Evaluate(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := ev.JacobianSpectrum(s, 0, 50)
			if err != nil {
				t.Fatal(err)
			}
			rank := min(tc.arch[0], tc.arch[len(tc.arch)-1])
			if sp.N != 40 || len(sp.Mean) != rank || len(sp.Std) != rank {
				t.Fatalf("N %d, %d means, %d stds; want 40 and %d", sp.N, len(sp.Mean), len(sp.Std), rank)
			}
			// The graph computes ‖J‖²_F in float32 through tr(M G Mᵀ):
			// about 1e-6 relative; the SVD is float64.
			if rel := math.Abs(sp.Fro2-want.JacobianFro2) / want.JacobianFro2; rel > 1e-5 {
				t.Errorf("mean Σσ² = %.8g, graph's mean ‖J‖²_F = %.8g (rel %.2g)", sp.Fro2, want.JacobianFro2, rel)
			}
			for k := 1; k < len(sp.Mean); k++ {
				if sp.Mean[k] > sp.Mean[k-1] {
					t.Errorf("spectrum not decreasing at %d: %v", k, sp.Mean)
				}
			}
			// Σ_k (mean σ_k)² ≤ mean Σσ² (Jensen), equal only with no spread.
			var ss float64
			for _, v := range sp.Mean {
				ss += v * v
			}
			if ss > sp.Fro2*(1+1e-12) {
				t.Errorf("Σ(mean σ)² = %v exceeds mean Σσ² = %v", ss, sp.Fro2)
			}
			top3, err := ev.JacobianSpectrum(s, 5, 3)
			if err != nil || top3.N != 5 || len(top3.Mean) != 3 {
				t.Errorf("JacobianSpectrum(s, 5, 3) = N %d, %d values, %v", top3.N, len(top3.Mean), err)
			}
		})
	}
}

// TestContraction: as ‖δ‖ → 0 the ratio tends to ‖J_h(x) δ̂‖; it is
// deterministic in the seed; and a sigmoid code, bounded in [0,1]^nL,
// cannot move more than √nL however large δ is.
func TestContraction(t *testing.T) {
	for _, tc := range diagCases {
		t.Run(caseName(tc.arch, tc.act), func(t *testing.T) {
			ev := diagModel(t, tc.arch, tc.act, 31)
			n0, nL := tc.arch[0], tc.arch[len(tc.arch)-1]
			const n, seed = 30, 9
			s := uniformSamples(n, n0, 32)
			pts, err := ev.Contraction(s, 0, []float64{1e-6, 1e3}, seed)
			if err != nil {
				t.Fatal(err)
			}
			dirs := contractionDirections(n, n0, seed)
			var want float64
			for i := 0; i < n; i++ {
				J, _ := ev.Jacobian(s.Row(i))
				var jd mat.VecDense
				jd.MulVec(J, mat.NewVecDense(n0, dirs[i*n0:(i+1)*n0]))
				want += mat.Norm(&jd, 2) / n
			}
			// Truncation O(r)·‖h''‖ ≈ 1e-6 relative; float64 rounding of
			// the code difference ≈ 1e-16/1e-6 = 1e-10. ReLU is exact
			// unless a kink lies within 1e-6.
			if rel := math.Abs(pts[0].Mean-want) / want; rel > 1e-4 {
				t.Errorf("ratio at r=1e-6: %.8g, mean ‖J δ̂‖ = %.8g (rel %.2g)", pts[0].Mean, want, rel)
			}
			if tc.act == graph.Sigmoid && pts[1].Mean*pts[1].Radius > math.Sqrt(float64(nL)) {
				t.Errorf("a sigmoid code moved %v > √%d", pts[1].Mean*pts[1].Radius, nL)
			}
			again, _ := ev.Contraction(s, 0, []float64{1e-6, 1e3}, seed)
			if again[0] != pts[0] || again[1] != pts[1] {
				t.Errorf("the same seed gave %v then %v", pts, again)
			}
		})
	}
}

func TestContractionErrors(t *testing.T) {
	ev := diagModel(t, []int{10, 7}, graph.Sigmoid, 1)
	if _, err := ev.Contraction(uniformSamples(3, 10, 1), 0, []float64{0.1, 0}, 1); err == nil {
		t.Error("a zero radius was accepted")
	}
	if _, err := ev.Contraction(uniformSamples(3, 9, 1), 0, []float64{0.1}, 1); err == nil {
		t.Error("samples of the wrong width were accepted")
	}
	if _, err := ev.JacobianSpectrum(uniformSamples(3, 9, 1), 0, 5); err == nil {
		t.Error("JacobianSpectrum accepted samples of the wrong width")
	}
	if _, err := ev.Jacobian(make([]float32, 3)); err == nil {
		t.Error("Jacobian accepted a sample of the wrong width")
	}
}

func TestLogRadii(t *testing.T) {
	r := LogRadii(0.01, 10, 16)
	if len(r) != 16 || math.Abs(r[0]-0.01) > 1e-15 || math.Abs(r[15]-10) > 1e-12 {
		t.Fatalf("LogRadii(0.01, 10, 16) = %v", r)
	}
	for i := 1; i < len(r); i++ {
		// Constant ratio 1000^(1/15).
		if q := r[i] / r[i-1]; math.Abs(q-math.Pow(1000, 1.0/15)) > 1e-12 {
			t.Errorf("ratio %d: %v", i, q)
		}
	}
}

func TestCodeSaturation(t *testing.T) {
	tests := []struct {
		act       graph.Activation
		codes     []float32 // 3 samples × 2 units
		sat, dead float64
	}{
		// Unit 0 is always saturated (dead); unit 1 saturated once.
		{graph.Sigmoid, []float32{0.01, 0.5, 0.99, 0.97, 0.04, 0.6}, 4.0 / 6, 0.5},
		{graph.Sigmoid, []float32{0.05, 0.95, 0.5, 0.5, 0.5, 0.5}, 0, 0}, // thresholds are strict
		{graph.Tanh, []float32{-0.99, 0.1, 0.96, -0.2, -1, 0.3}, 3.0 / 6, 0.5},
		{graph.ReLU, []float32{0, 1, 0, 0, 0, 2}, 4.0 / 6, 0.5},
		{graph.ReLU, []float32{1, 1, 2, 2, 3, 3}, 0, 0},
	}
	for _, tc := range tests {
		got, err := CodeSaturation(tc.act, tc.codes, 2)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.SaturatedFraction-tc.sat) > 1e-12 || math.Abs(got.DeadUnitFraction-tc.dead) > 1e-12 || got.Rule == "" {
			t.Errorf("%s %v: %+v, want saturated %v dead %v", tc.act, tc.codes, got, tc.sat, tc.dead)
		}
	}
	if _, err := CodeSaturation(graph.Sigmoid, []float32{1, 2, 3}, 2); err == nil {
		t.Error("3 values in rows of 2 were accepted")
	}
	if _, err := CodeSaturation(graph.Linear, []float32{1, 2}, 2); err == nil {
		t.Error("a linear code was given a saturation rule")
	}
}
