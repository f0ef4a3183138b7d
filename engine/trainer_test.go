// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/caetrain/caetrain/graph"
)

// synth makes n samples of dim values in [0,1] lying near a 3-dimensional
// manifold, so an autoencoder has something to learn.
func synth(n, dim int, seed uint64) Samples {
	rng := rand.New(rand.NewPCG(seed, 9))
	basis := make([]float64, 3*dim)
	for i := range basis {
		basis[i] = rng.NormFloat64()
	}
	x := make([]float32, n*dim)
	for s := 0; s < n; s++ {
		c := [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		for i := 0; i < dim; i++ {
			v := c[0]*basis[i] + c[1]*basis[dim+i] + c[2]*basis[2*dim+i]
			x[s*dim+i] = float32(1 / (1 + math.Exp(-v)))
		}
	}
	return Samples{X: x, N: n, Dim: dim}
}

// entropyFloor is the mean over samples of Σ_i −x log x − (1−x) log(1−x),
// the least BCE any reconstruction can reach.
func entropyFloor(s Samples) float64 {
	h := 0.0
	for _, v := range s.X {
		x := float64(v)
		if x > 0 && x < 1 {
			h -= x*math.Log(x) + (1-x)*math.Log(1-x)
		}
	}
	return h / float64(s.N)
}

func smallConfig(act graph.Activation, tied bool) Config {
	out, loss := graph.Linear, graph.SSE
	if tied {
		out, loss = graph.Sigmoid, graph.BCE
	}
	return Config{
		Spec:   graph.Spec{Arch: []int{20, 12, 6}, Act: act, OutAct: out, Tied: tied, Loss: loss, Lambda: 0.5},
		Batch:  16,
		Epochs: 3,
		Adam:   DefaultAdam,
		Seed:   42,
	}
}

func newTestTrainer(t *testing.T, c Config) *Trainer {
	t.Helper()
	tr, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func paramsCopy(tr *Trainer) [][]float32 {
	var out [][]float32
	for _, t := range tr.Params.Tensors {
		out = append(out, append([]float32(nil), t.Data().([]float32)...))
	}
	return out
}

// TestLoopLossFalls trains a few epochs on synthetic manifold data and
// requires the loss of the last epoch to be well below the first step's.
func TestLoopLossFalls(t *testing.T) {
	for _, act := range []graph.Activation{graph.Sigmoid, graph.ReLU, graph.Tanh} {
		for _, tied := range []bool{false, true} {
			c := smallConfig(act, tied)
			c.Epochs = 12
			c.Adam.LR = 1e-2
			tr := newTestTrainer(t, c)
			l := &Loop{T: tr, Train: synth(200, 20, 1), Test: synth(50, 20, 2)}
			var epochs []Metrics
			var firstStep float64
			l.OnStep(func(p Progress) error {
				if p.Step == 1 {
					firstStep = p.Loss
				}
				return nil
			})
			l.OnEpoch(func(m Metrics) error { epochs = append(epochs, m); return nil })
			if _, err := l.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			// BCE cannot go below the entropy of the targets: measure the
			// drop above that floor.
			floor := 0.0
			if c.Spec.Loss == graph.BCE {
				floor = entropyFloor(l.Train)
			}
			first, last := firstStep-floor, epochs[len(epochs)-2].Loss-floor
			if !(last < 0.8*first) {
				t.Errorf("%s tied=%v: epoch loss above the floor %.4g went %.4g → %.4g, want a drop of 20%% or more", act, tied, floor, first, last)
			}
			if epochs[len(epochs)-1].Event != "final" || epochs[len(epochs)-1].TestRecon == nil {
				t.Errorf("%s tied=%v: last event %+v, want a final event with test metrics", act, tied, epochs[len(epochs)-1])
			}
		}
	}
}

// TestSameSeedSameRun: two trainers from the same seed end bit-identical;
// a different seed differs.
func TestSameSeedSameRun(t *testing.T) {
	run := func(seed uint64) [][]float32 {
		c := smallConfig(graph.ReLU, false)
		c.Seed = seed
		tr := newTestTrainer(t, c)
		l := &Loop{T: tr, Train: synth(70, 20, 1)}
		if _, err := l.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return paramsCopy(tr)
	}
	a, b, d := run(5), run(5), run(6)
	same := func(x, y [][]float32) bool {
		for i := range x {
			for j := range x[i] {
				if x[i][j] != y[i][j] {
					return false
				}
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("two runs with seed 5 differ")
	}
	if same(a, d) {
		t.Error("runs with seeds 5 and 6 are identical")
	}
}

// TestEvaluateDoesNotDisturbTraining: gradients accumulate in a machine
// bound with dual values, so evaluation must use its own machine. Training
// with an evaluation between every step must end bit-identical to training
// without.
func TestEvaluateDoesNotDisturbTraining(t *testing.T) {
	data, test := synth(64, 20, 3), synth(30, 20, 4)
	c := smallConfig(graph.Sigmoid, true)
	a, b := newTestTrainer(t, c), newTestTrainer(t, c)
	for s := 0; s < 4; s++ {
		idx := []int{4 * s, 4*s + 1, 4*s + 2, 4*s + 3, 40, 41}
		if _, err := a.Step(data, idx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Evaluate(test, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Step(data, idx); err != nil {
			t.Fatal(err)
		}
	}
	pa, pb := paramsCopy(a), paramsCopy(b)
	for i := range pa {
		for j := range pa[i] {
			if pa[i][j] != pb[i][j] {
				t.Fatalf("%s[%d]: %v without eval, %v with eval", a.Params.Shapes[i].Name, j, pa[i][j], pb[i][j])
			}
		}
	}
}

// TestPartialBatchIsExact: a step on 5 rows through a batch-16 graph (11
// rows masked) must give the loss and update of a batch-5 graph on the same
// rows. float32 with different summation orders: 1e-5 relative.
func TestPartialBatchIsExact(t *testing.T) {
	const tol = 1e-5
	data := synth(40, 20, 5)
	c := smallConfig(graph.Tanh, false)
	big := newTestTrainer(t, c)
	c5 := c
	c5.Batch = 5
	small := newTestTrainer(t, c5)
	idx := []int{3, 9, 17, 22, 31}
	rb, err := big.Step(data, idx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := small.Step(data, idx)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rb.Loss-rs.Loss) > tol*math.Abs(rs.Loss) {
		t.Errorf("loss: masked batch %.8g, exact batch %.8g", rb.Loss, rs.Loss)
	}
	pb, ps := paramsCopy(big), paramsCopy(small)
	for i := range pb {
		for j := range pb[i] {
			if d := math.Abs(float64(pb[i][j] - ps[i][j])); d > tol*math.Max(1, math.Abs(float64(ps[i][j]))) {
				t.Fatalf("%s[%d]: masked batch %v, exact batch %v", big.Params.Shapes[i].Name, j, pb[i][j], ps[i][j])
			}
		}
	}
}

// TestGradientsDoNotAccumulate: two identical steps from the same state on
// one trainer must equal the first step of a fresh trainer twice, i.e. the
// second step sees a fresh gradient, not the sum of two runs.
func TestGradientsDoNotAccumulate(t *testing.T) {
	data := synth(32, 20, 6)
	c := smallConfig(graph.Sigmoid, false)
	c.Adam = DefaultAdam
	c.Adam.Beta1, c.Adam.Beta2 = 0, 0 // Adam becomes sign-like: p -= lr·g/(|g|+ε)
	c.Machine = GorgoniaVM            // the VM whose dual values accumulate
	tr := newTestTrainer(t, c)
	idx := []int{0, 1, 2, 3}
	if _, err := tr.Step(data, idx); err != nil {
		t.Fatal(err)
	}
	for i, n := range tr.train.m.Learnables {
		g, _ := n.Grad()
		for j, v := range g.Data().([]float32) {
			if v != 0 {
				t.Fatalf("%s grad[%d] = %v after the step, want 0", tr.Params.Shapes[i].Name, j, v)
			}
		}
	}
}

func TestDivergenceStops(t *testing.T) {
	data := synth(32, 20, 7)
	data.X[5] = float32(math.Inf(1))
	c := smallConfig(graph.ReLU, false)
	tr := newTestTrainer(t, c)
	before := paramsCopy(tr)
	_, err := tr.Step(data, []int{0, 1, 2})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("got %v, want ErrDiverged", err)
	}
	after := paramsCopy(tr)
	for i := range before {
		for j := range before[i] {
			if before[i][j] != after[i][j] {
				t.Fatal("parameters changed on a diverged step")
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := smallConfig(graph.ReLU, false)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"batch 0":   func(c *Config) { c.Batch = 0 },
		"lr 0":      func(c *Config) { c.Adam.LR = 0 },
		"lr NaN":    func(c *Config) { c.Adam.LR = math.NaN() },
		"beta1 1":   func(c *Config) { c.Adam.Beta1 = 1 },
		"epochs -1": func(c *Config) { c.Epochs = -1 },
		"bad spec":  func(c *Config) { c.Spec.Act = "gelu" },
	} {
		c := good
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestReconstructMatchesRecon: the reconstructions Reconstruct returns must
// be the ones the loss was computed from: for an SSE model, Σ(r−x)² per
// sample averaged equals Evaluate's test_recon. (Reading a node's Value()
// after a run returned the residual r−x here once: the tape machine ran the
// subtraction in place.) float32 sums: 1e-5 relative.
func TestReconstructMatchesRecon(t *testing.T) {
	// The seed preset's shape: the in-place reuse depends on the graph.
	c := smallConfig(graph.ReLU, false)
	c.Spec.Arch = []int{784, 64, 32, 16}
	tr := newTestTrainer(t, c)
	data := synth(37, 784, 8)
	if _, err := tr.Step(data, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	rec, err := tr.Reconstruct(data, data.N)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for i, r := range rec {
		d := float64(r - data.X[i])
		sum += d * d
	}
	ev, err := tr.Evaluate(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum / float64(data.N); math.Abs(got-ev.Recon) > 1e-5*ev.Recon {
		t.Errorf("mean Σ(r−x)² from Reconstruct = %.7g, Evaluate's recon = %.7g", got, ev.Recon)
	}
}

// TestHessianTraining: a CAE+H run is reproducible from its seed (the noise
// is a function of seed and step), reports the term, and its loss includes
// it.
func TestHessianTraining(t *testing.T) {
	data := synth(48, 20, 10)
	run := func() ([][]float32, StepResult) {
		c := smallConfig(graph.Sigmoid, false)
		c.Spec.HessGamma, c.Spec.HessSigma, c.Spec.HessCopies = 0.5, 0.3, 2
		tr := newTestTrainer(t, c)
		var r StepResult
		for s := 0; s < 3; s++ {
			var err error
			if r, err = tr.Step(data, []int{s, s + 10, s + 20, s + 30}); err != nil {
				t.Fatal(err)
			}
		}
		return paramsCopy(tr), r
	}
	a, ra := run()
	b, _ := run()
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("two CAE+H runs from one seed differ at tensor %d[%d]", i, j)
			}
		}
	}
	if !(ra.Hess > 0) {
		t.Errorf("CAE+H term %v, want > 0", ra.Hess)
	}
	want := ra.Recon + 0.5*ra.Penalty + 0.5*ra.Hess
	if math.Abs(ra.Loss-want) > 1e-5*want {
		t.Errorf("loss %v, want recon + λ·pen + γ·hess = %v", ra.Loss, want)
	}
}

// TestFastVMMatchesGorgonia trains the same model from the same seed on
// caetrain's VM and on Gorgonia's TapeMachine (the reference) for a few
// steps, for every activation, depth 1 to 3, tied and untied, with CAE+H,
// and compares the losses and parameters. Both run the same float32
// kernels in the same order, so they must agree to the last bit.
func TestFastVMMatchesGorgonia(t *testing.T) {
	data := synth(64, 20, 12)
	for _, act := range []graph.Activation{graph.Sigmoid, graph.ReLU, graph.Tanh} {
		for _, arch := range [][]int{{20, 9}, {20, 12, 6}, {20, 12, 8, 5}} {
			for _, tied := range []bool{false, true} {
				c := smallConfig(act, tied)
				c.Spec.Arch = arch
				if len(arch) == 3 {
					c.Spec.HessGamma, c.Spec.HessSigma, c.Spec.HessCopies = 0.3, 0.2, 2
				}
				run := func(kind string) ([]StepResult, [][]float32, EvalResult) {
					c.Machine = kind
					tr := newTestTrainer(t, c)
					var rs []StepResult
					for s := 0; s < 4; s++ {
						idx := []int{s, s + 8, s + 16, s + 24, s + 32, s + 40, s + 48}
						r, err := tr.Step(data, idx[:7-s%3])
						if err != nil {
							t.Fatal(err)
						}
						rs = append(rs, r)
					}
					ev, err := tr.Evaluate(data, 0)
					if err != nil {
						t.Fatal(err)
					}
					return rs, paramsCopy(tr), ev
				}
				fr, fp, fe := run(FastVM)
				gr, gp, ge := run(GorgoniaVM)
				name := fmt.Sprintf("%s %v tied=%v", act, arch, tied)
				for s := range fr {
					if fr[s] != gr[s] {
						t.Errorf("%s step %d: fast %+v, gorgonia %+v", name, s, fr[s], gr[s])
					}
				}
				for i := range fp {
					for j := range fp[i] {
						if fp[i][j] != gp[i][j] {
							t.Fatalf("%s: parameter %d[%d]: fast %v, gorgonia %v", name, i, j, fp[i][j], gp[i][j])
						}
					}
				}
				if fe != ge {
					t.Errorf("%s: evaluation fast %+v, gorgonia %+v", name, fe, ge)
				}
			}
		}
	}
}

// TestFastVMParallelMatchesGorgonia runs models big enough for the fast VM
// to split matrix products and row kernels over its workers, against
// Gorgonia's TapeMachine. Blocked products may sum in another order, so
// this compares with float32 tolerances: 1e-5 relative on the losses,
// 1e-4 on parameters after 3 Adam steps (Adam divides by √v, which
// amplifies tiny gradient differences for parameters with tiny gradients).
func TestFastVMParallelMatchesGorgonia(t *testing.T) {
	data := synth(256, 784, 13)
	idx := make([]int, 256)
	for i := range idx {
		idx[i] = i
	}
	for _, spec := range []graph.Spec{
		{Arch: []int{784, 64, 32, 16}, Act: graph.ReLU, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 100},
		{Arch: []int{784, 100}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1},
	} {
		run := func(kind string) ([]StepResult, [][]float32) {
			c := Config{Spec: spec, Batch: 256, Epochs: 1, Adam: DefaultAdam, Seed: 3, Machine: kind}
			tr := newTestTrainer(t, c)
			var rs []StepResult
			for s := 0; s < 3; s++ {
				r, err := tr.Step(data, idx)
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			return rs, paramsCopy(tr)
		}
		fr, fp := run(FastVM)
		gr, gp := run(GorgoniaVM)
		for s := range fr {
			if math.Abs(fr[s].Loss-gr[s].Loss) > 1e-5*math.Abs(gr[s].Loss) {
				t.Errorf("%v step %d: loss fast %.8g, gorgonia %.8g", spec.Arch, s, fr[s].Loss, gr[s].Loss)
			}
		}
		for i := range fp {
			for j := range fp[i] {
				if d := math.Abs(float64(fp[i][j] - gp[i][j])); d > 1e-4*math.Max(1e-2, math.Abs(float64(gp[i][j]))) {
					t.Fatalf("%v parameter %d[%d]: fast %v, gorgonia %v", spec.Arch, i, j, fp[i][j], gp[i][j])
				}
			}
		}
	}
}
