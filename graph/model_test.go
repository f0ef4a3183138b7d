// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// testSpecs covers every activation with 1 to 3 encoder layers, tied and
// untied, both output activations and both losses.
func testSpecs() []Spec {
	var specs []Spec
	archs := [][]int{{6, 5}, {6, 5, 4}, {7, 5, 4, 3}}
	for _, act := range []Activation{Sigmoid, ReLU, Tanh} {
		for ai, arch := range archs {
			for _, tied := range []bool{false, true} {
				s := Spec{Arch: arch, Act: act, OutAct: Linear, Tied: tied, Loss: SSE, Lambda: 0.7}
				if (ai+boolInt(tied))%2 == 1 {
					s.OutAct, s.Loss = Sigmoid, BCE
				}
				specs = append(specs, s)
			}
		}
	}
	return specs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func specName(s Spec) string {
	return fmt.Sprintf("%s-%v-tied=%v-%s-%s", s.Act, s.Arch, s.Tied, s.OutAct, s.Loss)
}

// fillRand fills float64 tensors uniformly in ±2/√fan-in, biases in ±0.5.
func fillRand(shapes []ParamShape, ts []*tensor.Dense, rng *rand.Rand) {
	for i, ps := range shapes {
		d := ts[i].Data().([]float64)
		scale := 0.5
		if ps.Fan[0] > 0 {
			scale = 2 / math.Sqrt(float64(ps.Fan[0]))
		}
		for j := range d {
			d[j] = (2*rng.Float64() - 1) * scale
		}
	}
}

// randParams fills float64 parameters uniformly in ±scale/√fan-in, biases
// in ±0.5, so that layers are neither saturated nor all dead.
func randParams(t *testing.T, s Spec, rng *rand.Rand) *Params {
	t.Helper()
	p, err := NewParams(s, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	fillRand(p.Shapes, p.Tensors, rng)
	return p
}

func randX(batch, n int, rng *rand.Rand) []float64 {
	x := make([]float64, batch*n)
	for i := range x {
		x[i] = 0.05 + 0.9*rng.Float64() // inside (0,1), as BCE targets must be
	}
	return x
}

// runner runs one model built on p with inputs set.
type runner struct {
	m     *Model
	vm    G.VM
	noise [][]float64 // one [batch*n0] slice per CAE+H copy
}

func newRunner(t *testing.T, p *Params, batch int, grad bool) *runner {
	t.Helper()
	m, err := Build(p, batch, Options{Grad: grad, Outputs: true})
	if err != nil {
		t.Fatal(err)
	}
	var opts []G.VMOpt
	if grad {
		opts = append(opts, G.BindDualValues(m.Learnables...))
	}
	return &runner{m: m, vm: G.NewTapeMachine(m.Graph, opts...)}
}

func (r *runner) run(t *testing.T, x, mask []float64) {
	t.Helper()
	n := 0.0
	for _, v := range mask {
		n += v
	}
	if err := G.Let(r.m.X, tensor.New(tensor.WithShape(r.m.Batch, r.m.Spec.Arch[0]), tensor.WithBacking(x))); err != nil {
		t.Fatal(err)
	}
	if err := G.Let(r.m.Mask, tensor.New(tensor.WithShape(r.m.Batch), tensor.WithBacking(mask))); err != nil {
		t.Fatal(err)
	}
	if err := G.Let(r.m.InvN, 1/n); err != nil {
		t.Fatal(err)
	}
	for c, nz := range r.noise {
		if err := G.Let(r.m.Noise[c], tensor.New(tensor.WithShape(r.m.Batch, r.m.Spec.Arch[0]), tensor.WithBacking(append([]float64(nil), nz...)))); err != nil {
			t.Fatal(err)
		}
	}
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
}

func (r *runner) scalar(t *testing.T, n *G.Node) float64 {
	t.Helper()
	val, err := r.m.Value(n)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := val.Data().(float64)
	if !ok {
		t.Fatalf("%v: not a float64 scalar: %v", n, val)
	}
	return v
}

func (r *runner) vec(t *testing.T, n *G.Node) []float64 {
	t.Helper()
	val, err := r.m.Value(n)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), val.Data().([]float64)...)
}

func ones(n int) []float64 {
	m := make([]float64, n)
	for i := range m {
		m[i] = 1
	}
	return m
}

func relErr(a, b float64) float64 {
	d := math.Abs(a - b)
	s := math.Max(math.Abs(a), math.Abs(b))
	if s == 0 {
		return d
	}
	return d / s
}

// TestPenaltyMatchesFiniteDifferenceJacobian checks ‖J_h(x)‖²_F from the
// graph against a Jacobian built by central differences of a plain-Go
// encoder. Tolerance 1e-6 relative: the requirement; central
// differences with step 1e-5 in float64 are accurate to about 1e-9 here.
func TestPenaltyMatchesFiniteDifferenceJacobian(t *testing.T) {
	const batch, tol = 4, 1e-6
	for i, s := range testSpecs() {
		t.Run(specName(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			p := randParams(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			r := newRunner(t, p, batch, false)
			r.run(t, append([]float64(nil), x...), ones(batch))
			got := r.vec(t, r.m.PenPer)
			ref := newRef(p)
			n0 := s.Arch[0]
			for b := 0; b < batch; b++ {
				want := ref.fdJacobianFro2(x[b*n0:(b+1)*n0], 1e-5)
				if want == 0 {
					t.Fatalf("sample %d: zero Jacobian, the test data is degenerate", b)
				}
				if e := relErr(got[b], want); e > tol {
					t.Errorf("sample %d: ‖J‖²_F got %.12g, want %.12g (finite differences), rel err %.3g > %g", b, got[b], want, e, tol)
				}
			}
		})
	}
}

// TestPenaltyClosedFormOneSigmoidLayer checks that for one sigmoid layer the
// graph's penalty equals Rifai et al.'s closed form; both are exact, so the
// tolerance is rounding only.
func TestPenaltyClosedFormOneSigmoidLayer(t *testing.T) {
	const batch, tol = 5, 1e-12
	for _, tied := range []bool{false, true} {
		s := Spec{Arch: []int{9, 7}, Act: Sigmoid, OutAct: Sigmoid, Tied: tied, Loss: BCE, Lambda: 0.1}
		rng := rand.New(rand.NewPCG(7, 7))
		p := randParams(t, s, rng)
		x := randX(batch, 9, rng)
		r := newRunner(t, p, batch, false)
		r.run(t, x, ones(batch))
		got := r.vec(t, r.m.PenPer)
		ref := newRef(p)
		for b := 0; b < batch; b++ {
			want := ref.closedFormSigmoid(x[b*9 : (b+1)*9])
			if e := relErr(got[b], want); e > tol {
				t.Errorf("tied=%v sample %d: got %.15g, want closed form %.15g (rel err %.3g)", tied, b, got[b], want, e)
			}
		}
	}
}

// TestForwardMatchesReference checks the reconstruction loss, the code and
// the masked means against the plain-Go model. Both are exact float64
// computations; 1e-10 allows for summation order.
func TestForwardMatchesReference(t *testing.T) {
	const batch, tol = 4, 1e-10
	for i, s := range testSpecs() {
		t.Run(specName(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			p := randParams(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			r := newRunner(t, p, batch, false)
			mask := []float64{1, 1, 0, 1}
			r.run(t, append([]float64(nil), x...), mask)
			ref := newRef(p)
			n0 := s.Arch[0]
			gotRecon := r.vec(t, r.m.ReconPer)
			code := r.vec(t, r.m.Code)
			output := r.vec(t, r.m.Output)
			nL := s.Arch[len(s.Arch)-1]
			var sumR, sumP float64
			pen := r.vec(t, r.m.PenPer)
			for b := 0; b < batch; b++ {
				xb := x[b*n0 : (b+1)*n0]
				want := ref.recon(xb)
				if e := relErr(gotRecon[b], want); e > tol {
					t.Errorf("sample %d: recon got %.12g want %.12g", b, gotRecon[b], want)
				}
				_, out := ref.decode(ref.encode(xb))
				for j := range out {
					if e := relErr(output[b*n0+j], out[j]); e > tol {
						t.Errorf("sample %d: output[%d] got %.12g want %.12g", b, j, output[b*n0+j], out[j])
					}
				}
				h := ref.encode(xb)
				for j := range h {
					if e := relErr(code[b*nL+j], h[j]); e > tol {
						t.Errorf("sample %d: code[%d] got %.12g want %.12g", b, j, code[b*nL+j], h[j])
					}
				}
				sumR += mask[b] * want
				sumP += mask[b] * pen[b]
			}
			n := 3.0
			if e := relErr(r.scalar(t, r.m.Recon), sumR/n); e > tol {
				t.Errorf("masked mean recon got %.12g want %.12g", r.scalar(t, r.m.Recon), sumR/n)
			}
			wantLoss := (sumR + s.Lambda*sumP) / n
			if e := relErr(r.scalar(t, r.m.Loss), wantLoss); e > tol {
				t.Errorf("loss got %.12g want %.12g", r.scalar(t, r.m.Loss), wantLoss)
			}
		})
	}
}

// TestGradientsMatchCentralDifferences checks every element of every
// gradient of the full loss (reconstruction + λ·penalty, with one padding
// row masked out) against central differences of the loss. Tolerance: the
// issue asks for 1e-6 relative error of the whole gradient vector; step 1e-6
// gives truncation and rounding errors near 1e-9 in float64.
func TestGradientsMatchCentralDifferences(t *testing.T) {
	const batch, tol, h = 4, 1e-6, 1e-6
	for i, s := range testSpecs() {
		t.Run(specName(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			p := randParams(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			mask := []float64{1, 0, 1, 1}
			tr := newRunner(t, p, batch, true)
			tr.run(t, append([]float64(nil), x...), mask)
			var analytic [][]float64
			for _, n := range tr.m.Learnables {
				gv, err := n.Grad()
				if err != nil {
					t.Fatalf("%s: %v", n.Name(), err)
				}
				analytic = append(analytic, append([]float64(nil), gv.Data().([]float64)...))
			}
			fwd := newRunner(t, p, batch, false)
			loss := func() float64 {
				fwd.run(t, append([]float64(nil), x...), mask)
				return fwd.scalar(t, fwd.m.Loss)
			}
			checkGradients(t, p, analytic, loss, h, tol)
		})
	}
}

// TestRunLeavesInputsAndWeightsUnchanged guards against Gorgonia's in-place
// execution overwriting an input (seen with a Reshape followed by an
// element-wise op): x and the parameters must be bit-identical after a
// forward and backward run, and a second run must give the same loss.
func TestRunLeavesInputsAndWeightsUnchanged(t *testing.T) {
	const batch = 3
	for i, s := range testSpecs() {
		t.Run(specName(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 4))
			p := randParams(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			x0 := append([]float64(nil), x...)
			var p0 [][]float64
			for _, tt := range p.Tensors {
				p0 = append(p0, append([]float64(nil), tt.Data().([]float64)...))
			}
			r := newRunner(t, p, batch, true)
			r.run(t, x, ones(batch))
			l1 := r.scalar(t, r.m.Loss)
			r.run(t, x, ones(batch))
			l2 := r.scalar(t, r.m.Loss)
			if l1 != l2 {
				t.Errorf("second run loss %v differs from first %v", l2, l1)
			}
			for j := range x {
				if x[j] != x0[j] {
					t.Fatalf("x[%d] changed from %v to %v", j, x0[j], x[j])
				}
			}
			for pi, tt := range p.Tensors {
				for j, v := range tt.Data().([]float64) {
					if v != p0[pi][j] {
						t.Fatalf("%s[%d] changed from %v to %v", p.Shapes[pi].Name, j, p0[pi][j], v)
					}
				}
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	good := Spec{Arch: []int{784, 64}, Act: Sigmoid, OutAct: Sigmoid, Loss: BCE, Lambda: 0.1}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Spec)
	}{
		{"short arch", func(s *Spec) { s.Arch = []int{784} }},
		{"zero width", func(s *Spec) { s.Arch = []int{784, 0} }},
		{"linear hidden", func(s *Spec) { s.Act = Linear }},
		{"unknown act", func(s *Spec) { s.Act = "swish" }},
		{"relu out", func(s *Spec) { s.OutAct = ReLU }},
		{"bce linear", func(s *Spec) { s.OutAct = Linear }},
		{"unknown loss", func(s *Spec) { s.Loss = "l1" }},
		{"negative lambda", func(s *Spec) { s.Lambda = -1 }},
		{"NaN lambda", func(s *Spec) { s.Lambda = math.NaN() }},
	}
	for _, tc := range tests {
		s := good
		s.Arch = append([]int(nil), good.Arch...)
		tc.mod(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", tc.name, s)
		}
	}
}

// checkGradients compares analytic gradients (in Params order) with
// central differences of loss over every parameter, step h: the relative
// error of the whole gradient vector must not exceed tol.
func checkGradients(t *testing.T, p *Params, analytic [][]float64, loss func() float64, h, tol float64) {
	t.Helper()
	var num2, den2, worst float64
	worstAt := ""
	for pi, tt := range p.Tensors {
		d := tt.Data().([]float64)
		for j := range d {
			orig := d[j]
			d[j] = orig + h
			lp := loss()
			d[j] = orig - h
			lm := loss()
			d[j] = orig
			fd := (lp - lm) / (2 * h)
			diff := analytic[pi][j] - fd
			num2 += diff * diff
			den2 += fd * fd
			if math.Abs(diff) > worst {
				worst = math.Abs(diff)
				worstAt = fmt.Sprintf("%s[%d]: analytic %.10g, fd %.10g", p.Shapes[pi].Name, j, analytic[pi][j], fd)
			}
		}
	}
	if den2 == 0 {
		t.Fatal("all-zero gradient: degenerate test data")
	}
	if e := math.Sqrt(num2 / den2); e > tol {
		t.Errorf("gradient vector rel err %.3g > %g; worst element %s", e, tol, worstAt)
	}
}
