// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"gorgonia.org/tensor"
)

// clusters is n samples of dim values in [0,1], drawn around one centre per
// class, with their labels.
func clusters(n, dim, classes int, seed uint64) (Samples, []uint8) {
	rng := rand.New(rand.NewPCG(seed, 99))
	centres := make([][]float64, classes)
	for c := range centres {
		centres[c] = make([]float64, dim)
		for j := range centres[c] {
			centres[c][j] = rng.Float64()
		}
	}
	s := Samples{X: make([]float32, n*dim), N: n, Dim: dim}
	lab := make([]uint8, n)
	for i := 0; i < n; i++ {
		c := rng.IntN(classes)
		lab[i] = uint8(c)
		for j := 0; j < dim; j++ {
			v := centres[c][j] + 0.25*rng.NormFloat64()
			s.X[i*dim+j] = float32(math.Min(1, math.Max(0, v)))
		}
	}
	return s, lab
}

func testCAE(t testing.TB, arch []int, seed uint64) *graph.Params {
	t.Helper()
	s := graph.Spec{Arch: arch, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1}
	p, err := graph.NewParams(s, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	GlorotInit(p, seed)
	return p
}

func testFinetuneConfig(s graph.ClassifierSpec) FinetuneConfig {
	return FinetuneConfig{Spec: s, Batch: 32, Epochs: 3, Adam: DefaultAdam, Seed: 5}
}

// TestClassifierStartsFromTheCAE checks that the classifier's encoder is the
// CAE's, copied (not shared), through a model directory as `caetrain
// finetune` reads it, and that a changed CAE changes the classifier's
// start: its encoder and its loss on the same batch. The softmax layer
// depends on the seed alone.
func TestClassifierStartsFromTheCAE(t *testing.T) {
	dir := t.TempDir()
	cae := testCAE(t, []int{20, 12}, 1)
	if err := SaveModel(dir, cae, NewModelConfig(Config{Spec: cae.Spec, Batch: 1, Adam: DefaultAdam})); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ClassifierFromCAE(loaded, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"encoder.0.weight", "encoder.0.bias"} {
		if got, want := a.Lookup(name).Data().([]float32), cae.Lookup(name).Data().([]float32); !slices.Equal(got, want) {
			t.Errorf("%s: the classifier's differs from the CAE's", name)
		}
	}
	// Copied, not shared: training the classifier leaves the CAE alone.
	a.Lookup("encoder.0.weight").Data().([]float32)[0] += 1
	if loaded.Lookup("encoder.0.weight").Data().([]float32)[0] == a.Lookup("encoder.0.weight").Data().([]float32)[0] {
		t.Error("the classifier's encoder shares the CAE's backing array")
	}
	a.Lookup("encoder.0.weight").Data().([]float32)[0] -= 1

	// A changed CAE: one bias and one weight moved.
	changed := testCAE(t, []int{20, 12}, 1)
	changed.Lookup("encoder.0.weight").Data().([]float32)[3] += 0.5
	changed.Lookup("encoder.0.bias").Data().([]float32)[2] -= 0.5
	b, err := ClassifierFromCAE(changed, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.Lookup("encoder.0.weight").Data().([]float32), b.Lookup("encoder.0.weight").Data().([]float32)) ||
		slices.Equal(a.Lookup("encoder.0.bias").Data().([]float32), b.Lookup("encoder.0.bias").Data().([]float32)) {
		t.Error("a changed CAE left the classifier's encoder unchanged")
	}
	for _, name := range []string{"classifier.weight", "classifier.bias"} {
		if !slices.Equal(a.Lookup(name).Data().([]float32), b.Lookup(name).Data().([]float32)) {
			t.Errorf("%s depends on the CAE; want the seed alone", name)
		}
	}
	s, lab := clusters(64, 20, 3, 1)
	var losses []float64
	for _, p := range []*graph.ClassifierParams{a, b} {
		ev, err := NewClassifierEvaluator(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ev.Evaluate(s, lab)
		ev.Close()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
	}
	if losses[0] == losses[1] {
		t.Errorf("the starting loss %v is the same from both CAEs", losses[0])
	}
	// A CAE of another input width is refused by the graph, not copied.
	if _, err := ClassifierFromCAE(testCAE(t, []int{20, 12, 6}, 1), 3, 7); err != nil {
		t.Errorf("a two-layer CAE: %v", err)
	}
}

// refPredict is the classifier in plain Go, float64: the predicted class
// of each sample.
func refPredict(p *graph.ClassifierParams, s Samples) []uint8 {
	sp := p.Spec
	out := make([]uint8, s.N)
	for n := 0; n < s.N; n++ {
		a := make([]float64, s.Dim)
		for j, v := range s.Row(n) {
			a[j] = float64(v)
		}
		widths := append(slices.Clone(sp.Arch), sp.Classes)
		for k := 0; k+1 < len(widths); k++ {
			w, b := p.Tensors[2*k].Data().([]float32), p.Tensors[2*k+1].Data().([]float32)
			in, o := widths[k], widths[k+1]
			next := make([]float64, o)
			for j := 0; j < o; j++ {
				z := float64(b[j])
				for i := 0; i < in; i++ {
					z += a[i] * float64(w[i*o+j])
				}
				if k < sp.Layers() {
					z = 1 / (1 + math.Exp(-z))
				}
				next[j] = z
			}
			a = next
		}
		best := 0
		for j, v := range a {
			if v > a[best] {
				best = j
			}
		}
		out[n] = uint8(best)
	}
	return out
}

// TestEvaluateUsesEverySample checks that the test error counts every one
// of 10,000 samples (20 full evaluation batches) and of 10,001 (a partial
// last batch), against a plain-Go forward pass. The weights are random, so
// about 2/3 of the predictions are wrong and every batch counts; float32
// against float64 logits may disagree on near-ties, hence a tolerance of 5
// samples in 10,000 on the error count (the count of predictions must be
// exact).
func TestEvaluateUsesEverySample(t *testing.T) {
	for _, n := range []int{10000, 10001} {
		s, lab := clusters(n, 16, 3, 2)
		p, err := RandomClassifier(graph.ClassifierSpec{Arch: []int{16, 8}, Act: graph.Sigmoid, Classes: 3}, 3)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := NewClassifierEvaluator(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ev.Evaluate(s, lab)
		ev.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.N != n || len(r.Pred) != n {
			t.Fatalf("n=%d: evaluated %d samples, %d predictions", n, r.N, len(r.Pred))
		}
		want := refPredict(p, s)
		wrong, differ := 0, 0
		for i := range want {
			if want[i] != lab[i] {
				wrong++
			}
			if want[i] != r.Pred[i] {
				differ++
			}
		}
		if differ > 5 || abs(r.Errors-wrong) > 5 {
			t.Errorf("n=%d: %d errors, plain Go counts %d; %d predictions differ", n, r.Errors, wrong, differ)
		}
		if math.Abs(r.Error-float64(r.Errors)/float64(n)) > 1e-15 {
			t.Errorf("n=%d: error %v is not %d/%d", n, r.Error, r.Errors, n)
		}
		if r.Errors < n/10 {
			t.Errorf("n=%d: only %d errors from random weights; the test cannot see a skipped batch", n, r.Errors)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestFinetuneLearnsAndKeepsTheBestEpoch trains on separable clusters: the
// validation error must fall well below chance, the best epoch must be the
// one with the lowest validation error, and the parameters at the end must
// be that epoch's (re-evaluating the validation split gives its error).
func TestFinetuneLearnsAndKeepsTheBestEpoch(t *testing.T) {
	all, lab := clusters(1200, 20, 3, 4)
	train, tl, val, vl, err := SplitValidation(all, lab, 300)
	if err != nil {
		t.Fatal(err)
	}
	cae := testCAE(t, []int{20, 12}, 1)
	p, err := ClassifierFromCAE(cae, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testFinetuneConfig(p.Spec)
	cfg.Epochs = 4
	f, err := NewFinetuner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var epochs []FinetuneEpoch
	res, err := Finetune(context.Background(), f, train, tl, val, vl, func(e FinetuneEpoch) error { epochs = append(epochs, e); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 4 || res.Steps != 4*((900+31)/32) {
		t.Fatalf("%d epochs, %d steps; want 4 and %d", len(epochs), res.Steps, 4*((900+31)/32))
	}
	best := epochs[0]
	for _, e := range epochs {
		if *e.ValError < *best.ValError {
			best = e
		}
	}
	if res.BestEpoch != best.Epoch || res.BestValError != *best.ValError {
		t.Errorf("best epoch %d (val error %v), want %d (%v)", res.BestEpoch, res.BestValError, best.Epoch, *best.ValError)
	}
	// Chance is 2/3; the clusters are far apart.
	if res.BestValError > 0.1 {
		t.Errorf("best validation error %v; the classifier did not learn", res.BestValError)
	}
	ev, err := f.Evaluate(val, vl)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Error != res.BestValError || ev.Loss != res.BestValLoss {
		t.Errorf("after Finetune: val error %v loss %v, want the best epoch's %v, %v", ev.Error, ev.Loss, res.BestValError, res.BestValLoss)
	}
}

// TestFinetuneWithoutValidation checks the refit mode: with an empty
// validation split Finetune trains exactly as with one (validation does
// not touch the shuffle or the parameters), reports no validation
// metrics, and keeps the last epoch's parameters, not an earlier one's.
func TestFinetuneWithoutValidation(t *testing.T) {
	all, lab := clusters(600, 20, 3, 5)
	train, tl, val, vl, err := SplitValidation(all, lab, 150)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, v, _, err := SplitValidation(all, lab, 0); err != nil || v.N != 0 {
		t.Fatalf("SplitValidation(val 0): validation of %d samples, %v; want 0, nil", v.N, err)
	}
	cae := testCAE(t, []int{20, 12}, 1)
	run := func(val Samples, vl []uint8) (FinetuneResult, []FinetuneEpoch, [][][]float32, [][]float32) {
		p, err := ClassifierFromCAE(cae, 3, 7)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testFinetuneConfig(p.Spec)
		cfg.Epochs = 3
		f, err := NewFinetuner(cfg, p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var epochs []FinetuneEpoch
		var perEpoch [][][]float32 // the parameters after each epoch
		res, err := Finetune(context.Background(), f, train, tl, val, vl, func(e FinetuneEpoch) error {
			epochs = append(epochs, e)
			var ps [][]float32
			for _, tt := range p.Tensors {
				ps = append(ps, slices.Clone(tt.Data().([]float32)))
			}
			perEpoch = append(perEpoch, ps)
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var final [][]float32
		for _, tt := range p.Tensors {
			final = append(final, tt.Data().([]float32))
		}
		return res, epochs, perEpoch, final
	}
	_, withVal, withValParams, _ := run(val, vl)
	res, epochs, _, final := run(Samples{}, nil)
	if res.BestEpoch != 3 || len(epochs) != 3 {
		t.Fatalf("without validation: best epoch %d of %d epochs; want the last, 3 of 3", res.BestEpoch, len(epochs))
	}
	for i, e := range epochs {
		if e.ValLoss != nil || e.ValError != nil || !e.Best {
			t.Errorf("epoch %d: val loss %v error %v best %v; want none, none, true", e.Epoch, e.ValLoss, e.ValError, e.Best)
		}
		if e.TrainLoss != withVal[i].TrainLoss || e.Step != withVal[i].Step {
			t.Errorf("epoch %d: train loss %v step %d; with validation %v %d", e.Epoch, e.TrainLoss, e.Step, withVal[i].TrainLoss, withVal[i].Step)
		}
	}
	for i := range final {
		if !slices.Equal(final[i], withValParams[2][i]) {
			t.Errorf("tensor %d: the kept parameters are not the last epoch's", i)
		}
		if slices.Equal(final[i], withValParams[1][i]) {
			t.Errorf("tensor %d: the last two epochs' parameters are equal; the test cannot tell them apart", i)
		}
	}
}

// TestFinetuneVMsAgree checks that caetrain's VM and Gorgonia's
// TapeMachine (the reference) train the classifier alike: after 10 steps
// the parameters agree within 1e-5 (float32 rounding of products summed in
// another order: the fast VM tiles them).
func TestFinetuneVMsAgree(t *testing.T) {
	s, lab := clusters(320, 20, 3, 6)
	var params [][][]float32
	for _, vm := range []string{FastVM, GorgoniaVM} {
		p, err := ClassifierFromCAE(testCAE(t, []int{20, 12, 6}, 1), 3, 7)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testFinetuneConfig(p.Spec)
		cfg.Machine = vm
		f, err := NewFinetuner(cfg, p)
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; step < 10; step++ {
			idx := make([]int, 0, 32)
			for i := step * 32; i < step*32+32-step%3; i++ { // some partial batches
				idx = append(idx, i)
			}
			if _, err := f.Step(s, lab, idx); err != nil {
				t.Fatalf("%s step %d: %v", vm, step, err)
			}
		}
		f.Close()
		var ps [][]float32
		for _, t := range p.Tensors {
			ps = append(ps, slices.Clone(t.Data().([]float32)))
		}
		params = append(params, ps)
	}
	for i := range params[0] {
		for j := range params[0][i] {
			if d := math.Abs(float64(params[0][i][j] - params[1][i][j])); d > 1e-5 {
				t.Fatalf("tensor %d [%d]: fast %v, gorgonia %v", i, j, params[0][i][j], params[1][i][j])
			}
		}
	}
}

func TestFinetuneRefusesCUDA(t *testing.T) {
	if CUDABuild {
		t.Skip("a gpu build: TestCUDAFinetuneParity fine-tunes on the device")
	}
	p, err := RandomClassifier(graph.ClassifierSpec{Arch: []int{4, 3}, Act: graph.Sigmoid, Classes: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testFinetuneConfig(p.Spec)
	cfg.Device = CUDA
	if _, err := NewFinetuner(cfg, p); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("device cuda: got %v, want ErrNoCUDA", err)
	}
}

// TestClassifierSaveLoad round-trips classifier.safetensors and
// config.json exactly, and rejects a config of another architecture.
func TestClassifierSaveLoad(t *testing.T) {
	dir := t.TempDir()
	p, err := ClassifierFromCAE(testCAE(t, []int{20, 12}, 1), 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	te := 0.0123
	if err := SaveClassifier(dir, p, ClassifierConfig{Init: "cae", Batch: 32, Epochs: 2, TestError: &te}); err != nil {
		t.Fatal(err)
	}
	if !IsClassifier(dir) {
		t.Fatal("IsClassifier: false after SaveClassifier")
	}
	q, cc, err := LoadClassifier(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cc.TestError == nil || *cc.TestError != te || cc.Classes != 10 || cc.Init != "cae" {
		t.Errorf("config read back as %+v", cc)
	}
	for i := range p.Tensors {
		if !slices.Equal(p.Tensors[i].Data().([]float32), q.Tensors[i].Data().([]float32)) {
			t.Errorf("%s differs after a round trip", p.Shapes[i].Name)
		}
	}
	other, _ := RandomClassifier(graph.ClassifierSpec{Arch: []int{20, 12}, Act: graph.Sigmoid, Classes: 5}, 1)
	odir := t.TempDir()
	if err := SaveClassifier(odir, other, ClassifierConfig{}); err != nil {
		t.Fatal(err)
	}
	// config.json of a 5-class model next to a 10-class model's weights.
	if err := copyFile(filepath.Join(odir, ConfigFile), filepath.Join(dir, ConfigFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadClassifier(dir); err == nil {
		t.Error("mismatched config.json and classifier.safetensors loaded without error")
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func TestLRSchedule(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		step     int
		want     float64
	}{
		// Exact up to the cosine's rounding: 1e-15.
		{ConstantLR, 7, 0.01},
		{"", 99, 0.01},
		{CosineLR, 0, 0.01},
		{CosineLR, 50, 0.005},
		{CosineLR, 100, 0},
	} {
		c := FinetuneConfig{Adam: DefaultAdam, Schedule: tc.schedule}
		c.Adam.LR = 0.01
		if got := c.lrAt(tc.step, 100); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("%q step %d of 100: lr %v, want %v", tc.schedule, tc.step, got, tc.want)
		}
	}
}

// TestFinetuneSGD checks SGD with momentum and weight decay against its
// definition, in float64: for two steps on the same batches, the gradient
// g of each step is read from a twin finetuner (same parameters, same
// batch) before the step, and v ← μ·v + g + wd·W (weights only),
// W ← W − lr·v is applied by hand. Tolerance 1e-6: float32 rounding of
// the update of values of order 1.
func TestFinetuneSGD(t *testing.T) {
	s, lab := clusters(64, 20, 3, 8)
	const lr, mu, wd = 0.05, 0.9, 0.01
	p, err := ClassifierFromCAE(testCAE(t, []int{20, 12}, 1), 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testFinetuneConfig(p.Spec)
	cfg.Optimizer, cfg.Momentum, cfg.WeightDecay = OptSGD, mu, wd
	cfg.Adam.LR = lr
	f, err := NewFinetuner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref := make([][]float64, len(p.Tensors))
	vel := make([][]float64, len(p.Tensors))
	for i, tt := range p.Tensors {
		for _, x := range tt.Data().([]float32) {
			ref[i] = append(ref[i], float64(x))
		}
		vel[i] = make([]float64, len(ref[i]))
	}
	for step := 0; step < 2; step++ {
		idx := make([]int, 32)
		for i := range idx {
			idx[i] = step*32 + i
		}
		// The gradient at the current parameters, from f's own machine:
		// run it, copy the gradients, zero them (they accumulate).
		if err := f.train.run(s, lab, idx); err != nil {
			t.Fatal(err)
		}
		grads, err := f.train.gradients()
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range grads {
			weight := len(p.Shapes[i].Shape) == 2
			for j, gj := range g {
				d := float64(gj)
				if weight {
					d += wd * ref[i][j]
				}
				vel[i][j] = mu*vel[i][j] + d
				ref[i][j] -= lr * vel[i][j]
			}
		}
		zeroAll(grads)
		if _, err := f.Step(s, lab, idx); err != nil {
			t.Fatal(err)
		}
	}
	for i, tt := range p.Tensors {
		for j, x := range tt.Data().([]float32) {
			if d := math.Abs(float64(x) - ref[i][j]); d > 1e-6 {
				t.Fatalf("%s[%d] = %v after two SGD steps, want %v", p.Shapes[i].Name, j, x, ref[i][j])
			}
		}
	}
	if f.Steps() != 2 {
		t.Errorf("%d steps, want 2", f.Steps())
	}
}

// TestFinetuneInputDropout checks that with InputDropout a training step
// sees its batch with each value zeroed with probability p and the rest
// scaled by 1/(1−p), drawn from the stream of (Seed, step): its SGD update
// (momentum 0, so the update is −lr·g) equals the gradient of a twin
// machine run on the batch corrupted by hand, and about p of the values
// are dropped. Evaluation inputs stay clean.
func TestFinetuneInputDropout(t *testing.T) {
	const p, lr = 0.3, 0.1
	s, lab := clusters(64, 20, 3, 8)
	idx := make([]int, 32)
	for i := range idx {
		idx[i] = i
	}
	params, err := ClassifierFromCAE(testCAE(t, []int{20, 12}, 1), 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testFinetuneConfig(params.Spec)
	cfg.Optimizer, cfg.Adam.LR, cfg.InputDropout = OptSGD, lr, p
	f, err := NewFinetuner(cfg, params)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := make([][]float32, len(params.Tensors))
	for i, tt := range params.Tensors {
		before[i] = slices.Clone(tt.Data().([]float32))
	}
	// The batch as step 0 corrupts it.
	x := Samples{X: make([]float32, len(idx)*s.Dim), N: len(idx), Dim: s.Dim}
	for r, i := range idx {
		copy(x.X[r*s.Dim:], s.Row(i))
	}
	clean := slices.Clone(x.X)
	dropInputs(x.X, p, float32(1/(1-p)), rand.New(rand.NewPCG(cfg.Seed^0x6e6f697365, 0)))
	dropped, nonzero := 0, 0
	for i, v := range x.X {
		if clean[i] != 0 {
			nonzero++
			if v == 0 {
				dropped++
			}
		}
	}
	if frac := float64(dropped) / float64(nonzero); math.Abs(frac-p) > 0.05 {
		t.Errorf("%.3f of the inputs dropped, want about %v", frac, p)
	}
	twin, err := newClassMachine(params, cfg.Batch, true, FastVM, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer twin.close()
	if err := twin.run(x, lab[:len(idx)], seq(len(idx))); err != nil {
		t.Fatal(err)
	}
	g, err := twin.gradients()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Step(s, lab, idx); err != nil {
		t.Fatal(err)
	}
	for i, tt := range params.Tensors {
		for j, w := range tt.Data().([]float32) {
			want := float64(before[i][j]) - lr*float64(g[i][j])
			if math.Abs(float64(w)-want) > 1e-6 {
				t.Fatalf("%s[%d] = %v after a step, want %v (the gradient of the corrupted batch)", params.Shapes[i].Name, j, w, want)
			}
		}
	}
	if f.eval.corrupt != nil {
		t.Error("the evaluation machine corrupts its inputs")
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
