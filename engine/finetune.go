// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// FinetuneConfig is a complete fine-tuning configuration: the classifier
// (a CAE's encoder and a softmax layer) and how it is trained.
type FinetuneConfig struct {
	Spec    graph.ClassifierSpec
	Batch   int               // samples per optimizer step
	Epochs  int               // passes over the training split
	Adam    kernels.AdamHyper // optimizer hyper-parameters
	Seed    uint64            // the softmax layer's (or, for --init random, every layer's) initial weights and the shuffling
	Machine string            // CPU virtual machine: FastVM (default, "") or GorgoniaVM
	Device  Device            // CPU (default, ""); CUDA is refused (see NewFinetuner)
	// Schedule is the learning rate's schedule over the run's steps:
	// ConstantLR (default, "") or CosineLR.
	Schedule string
	// Optimizer is OptAdam (default, "") or OptSGD. Adam.LR is the
	// learning rate of either; Adam's betas and eps only Adam's.
	Optimizer string
	// Momentum is SGD's μ in v ← μ·v + g, w ← w − lr·v (0: plain SGD).
	Momentum float64
	// InputDropout is the probability with which each input value of a
	// training batch is set to 0, the others scaled by 1/(1−InputDropout)
	// (inverted dropout on the inputs; validation and test see them
	// clean). The mask of step s is drawn from a stream seeded by Seed
	// and s, so a resumed run draws the same masks. 0: none.
	InputDropout float64
	// WeightDecay adds WeightDecay·w to the gradient of every weight
	// matrix (not the biases) before the optimizer sees it: an L2
	// penalty (WeightDecay/2)·‖W‖² in the loss. 0: none.
	WeightDecay float64
}

// The optimizers of fine-tuning.
const (
	OptAdam = "adam"
	OptSGD  = "sgd" // with Momentum
)

// The learning-rate schedules of fine-tuning.
const (
	ConstantLR = "constant" // Adam.LR at every step
	// CosineLR is Adam.LR·(1 + cos(π·s/S))/2 at step s of S (s from 0):
	// from Adam.LR down towards 0 at the last step.
	CosineLR = "cosine"
)

// lrAt is the learning rate of step s (0-based) of total under c.
func (c FinetuneConfig) lrAt(s, total int) float64 {
	if c.Schedule != CosineLR || total <= 0 {
		return c.Adam.LR
	}
	return c.Adam.LR * (1 + math.Cos(math.Pi*float64(s)/float64(total))) / 2
}

// Validate reports what is wrong with c, naming the setting.
func (c FinetuneConfig) Validate() error {
	var errs []error
	if err := c.Spec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Batch <= 0 {
		errs = append(errs, fmt.Errorf("batch %d: must be positive", c.Batch))
	}
	if c.Epochs <= 0 {
		errs = append(errs, fmt.Errorf("epochs %d: must be positive", c.Epochs))
	}
	if !(c.Adam.LR > 0) || math.IsInf(c.Adam.LR, 0) {
		errs = append(errs, fmt.Errorf("lr %v: must be a positive number", c.Adam.LR))
	}
	if !(c.Adam.Beta1 >= 0 && c.Adam.Beta1 < 1) || !(c.Adam.Beta2 >= 0 && c.Adam.Beta2 < 1) || !(c.Adam.Eps > 0) {
		errs = append(errs, fmt.Errorf("adam betas %v, %v, eps %v: betas must lie in [0, 1), eps be positive", c.Adam.Beta1, c.Adam.Beta2, c.Adam.Eps))
	}
	if c.Machine != "" && c.Machine != FastVM && c.Machine != GorgoniaVM {
		errs = append(errs, fmt.Errorf("vm %q: want %s or %s", c.Machine, FastVM, GorgoniaVM))
	}
	if c.Schedule != "" && c.Schedule != ConstantLR && c.Schedule != CosineLR {
		errs = append(errs, fmt.Errorf("lr schedule %q: want %s or %s", c.Schedule, ConstantLR, CosineLR))
	}
	if c.Optimizer != "" && c.Optimizer != OptAdam && c.Optimizer != OptSGD {
		errs = append(errs, fmt.Errorf("optimizer %q: want %s or %s", c.Optimizer, OptAdam, OptSGD))
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		errs = append(errs, fmt.Errorf("momentum %v: must lie in [0, 1)", c.Momentum))
	}
	if !(c.InputDropout >= 0 && c.InputDropout < 1) {
		errs = append(errs, fmt.Errorf("input dropout %v: must lie in [0, 1)", c.InputDropout))
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		errs = append(errs, fmt.Errorf("weight decay %v: must be a non-negative number", c.WeightDecay))
	}
	if c.Device != "" && c.Device != CPU && c.Device != CUDA {
		errs = append(errs, fmt.Errorf("device %q: want cpu or cuda", c.Device))
	}
	return errors.Join(errs...)
}

// asParams views a classifier's tensors as graph.Params for the helpers that
// use only Shapes and Tensors (GlorotInit, NewAdam); its Spec is unset.
func asParams(p *graph.ClassifierParams) *graph.Params {
	return &graph.Params{Shapes: p.Shapes, Tensors: p.Tensors}
}

// RandomClassifier makes float32 classifier parameters with every weight
// Glorot-uniform and every bias zero, from seed alone (the random-init
// baseline).
func RandomClassifier(s graph.ClassifierSpec, seed uint64) (*graph.ClassifierParams, error) {
	p, err := graph.NewClassifierParams(s, tensor.Float32)
	if err != nil {
		return nil, err
	}
	GlorotInit(asParams(p), seed)
	return p, nil
}

// ClassifierFromCAE makes float32 classifier parameters whose encoder is a
// copy of the CAE's (encoder.{k}.weight and .bias, copied by name) and whose
// softmax layer is Glorot-uniform (bias zero) from seed.
func ClassifierFromCAE(cae *graph.Params, classes int, seed uint64) (*graph.ClassifierParams, error) {
	if cae.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("engine: CAE parameters are %v, want float32", cae.Dtype())
	}
	p, err := RandomClassifier(graph.ClassifierOf(cae.Spec, classes), seed)
	if err != nil {
		return nil, err
	}
	for i, ps := range p.Shapes[:len(p.Shapes)-2] {
		src := cae.Lookup(ps.Name)
		if src == nil {
			return nil, fmt.Errorf("engine: the CAE has no tensor %q", ps.Name)
		}
		s, d := src.Data().([]float32), p.Tensors[i].Data().([]float32)
		if len(s) != len(d) {
			return nil, fmt.Errorf("engine: the CAE's %s has %d values, the classifier's %d", ps.Name, len(s), len(d))
		}
		copy(d, s)
	}
	return p, nil
}

// classMachine is one classifier graph and the VM that runs it.
type classMachine struct {
	c    *graph.Classifier
	fast *cpuVM // caetrain's VM, or nil
	vm   G.VM   // Gorgonia's TapeMachine, or nil
	// The inputs: tensors (for Gorgonia's Let) and their backing arrays
	// (bound in place to the fast VM).
	x, y, mask        *tensor.Dense
	xs, ys, masks     []float32
	invn              []float32
	grads             [][]float32 // the fast VM's gradient buffers
	classes, inputDim int
	// dev, in place of fast or vm, runs the graph on a GPU; host holds
	// the values read back from it, params the host's parameters it is
	// given before each run.
	dev    deviceClassMachine
	host   map[*G.Node][]float32
	params [][]float32
	// corrupt, if set, changes the batch's inputs after they are
	// gathered, before the machine runs (FinetuneConfig.InputDropout).
	corrupt func(xs []float32)
}

func newClassMachine(p *graph.ClassifierParams, batch int, train bool, kind string, device Device) (*classMachine, error) {
	c, err := graph.BuildClassifier(p, batch, graph.Options{Grad: train, Outputs: true})
	if err != nil {
		return nil, err
	}
	s := p.Spec
	mc := &classMachine{
		c:    c,
		x:    tensor.New(tensor.WithShape(batch, s.Arch[0]), tensor.Of(tensor.Float32)),
		y:    tensor.New(tensor.WithShape(batch, s.Classes), tensor.Of(tensor.Float32)),
		mask: tensor.New(tensor.WithShape(batch), tensor.Of(tensor.Float32)),
		invn: make([]float32, 1), classes: s.Classes, inputDim: s.Arch[0],
	}
	mc.xs, mc.ys, mc.masks = mc.x.Data().([]float32), mc.y.Data().([]float32), mc.mask.Data().([]float32)
	if device == CUDA {
		if mc.dev, err = newDeviceClassMachine(c); err != nil {
			return nil, err
		}
		mc.host = map[*G.Node][]float32{c.Loss: make([]float32, 1), c.XentPer: make([]float32, batch), c.Logits: make([]float32, batch*s.Classes)}
		for i, t := range p.Tensors {
			mc.params = append(mc.params, t.Data().([]float32))
			if train {
				mc.grads = append(mc.grads, make([]float32, len(mc.params[i])))
			}
		}
		return mc, nil
	}
	switch kind {
	case "", FastVM:
		bind := map[*G.Node][]float32{c.X: mc.xs, c.Y: mc.ys, c.Mask: mc.masks, c.InvN: mc.invn}
		for i, n := range c.Learnables {
			bind[n] = p.Tensors[i].Data().([]float32)
		}
		targets := G.Nodes{c.Loss, c.XentPer, c.Logits}
		if train {
			targets = append(targets, c.Grads...)
		}
		if mc.fast, err = newCPUVM(c.Graph, targets, bind, defaultWorkers()); err != nil {
			return nil, err
		}
		if train {
			for _, g := range c.Grads {
				b, _ := mc.fast.value(g)
				mc.grads = append(mc.grads, b)
			}
		}
	case GorgoniaVM:
		var opts []G.VMOpt
		if train {
			opts = append(opts, G.BindDualValues(c.Learnables...))
		}
		mc.vm = G.NewTapeMachine(c.Graph, opts...)
	default:
		return nil, fmt.Errorf("engine: unknown virtual machine %q (want %s or %s)", kind, FastVM, GorgoniaVM)
	}
	return mc, nil
}

// run sets rows idx of s (labels lab) as the batch, zero-pads the rest,
// and runs the machine.
func (mc *classMachine) run(s Samples, lab []uint8, idx []int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("engine: gorgonia panicked: %v", r)
		}
	}()
	b := mc.c.Batch
	if len(idx) == 0 || len(idx) > b {
		return fmt.Errorf("engine: %d rows for a batch of %d", len(idx), b)
	}
	d, C := s.Dim, mc.classes
	clear(mc.ys)
	for r := 0; r < b; r++ {
		if r < len(idx) {
			l := int(lab[idx[r]])
			if l >= C {
				return fmt.Errorf("engine: sample %d has label %d; the classifier has %d classes", idx[r], l, C)
			}
			copy(mc.xs[r*d:(r+1)*d], s.Row(idx[r]))
			mc.ys[r*C+l] = 1
			mc.masks[r] = 1
		} else {
			clear(mc.xs[r*d : (r+1)*d])
			mc.masks[r] = 0
		}
	}
	mc.invn[0] = float32(1 / float64(len(idx)))
	if mc.corrupt != nil {
		mc.corrupt(mc.xs[:len(idx)*d])
	}
	if mc.fast != nil {
		mc.fast.run()
		return nil
	}
	if mc.dev != nil {
		return mc.runDevice()
	}
	for _, in := range []struct {
		n *G.Node
		v any
	}{{mc.c.X, mc.x}, {mc.c.Y, mc.y}, {mc.c.Mask, mc.mask}, {mc.c.InvN, mc.invn[0]}} {
		// On a shape mismatch RunAll would run on stale inputs.
		if err := G.Let(in.n, in.v); err != nil {
			return fmt.Errorf("engine: set %s: %w", in.n.Name(), err)
		}
	}
	mc.vm.Reset()
	if err := mc.vm.RunAll(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	return nil
}

// runDevice runs the GPU machine on the batch set in mc's host arrays,
// with the host's parameters, and reads back the results.
func (mc *classMachine) runDevice() error {
	if err := mc.dev.setParams(mc.params); err != nil {
		return err
	}
	if err := mc.dev.run(mc.xs, mc.ys, mc.masks, mc.invn); err != nil {
		return err
	}
	for n, dst := range mc.host {
		if err := mc.dev.read(n, dst); err != nil {
			return err
		}
	}
	if mc.grads != nil {
		return mc.dev.readGrads(mc.grads)
	}
	return nil
}

// value is the float32 data of n (Loss, XentPer or Logits) after a run.
func (mc *classMachine) value(n *G.Node) []float32 {
	if mc.dev != nil {
		return mc.host[n]
	}
	if mc.fast != nil {
		b, ok := mc.fast.value(n)
		if !ok {
			panic(fmt.Sprintf("engine: node %v is not computed by this machine", n))
		}
		return b
	}
	v, err := mc.c.Value(n)
	if err != nil {
		panic(err) // only watched nodes are read: a bug in engine
	}
	if f, ok := v.Data().(float32); ok {
		return []float32{f}
	}
	return v.Data().([]float32)
}

// gradients returns the learnables' gradients from the last run, in
// ClassifierParams order. Gorgonia's accumulate until Adam zeroes them.
func (mc *classMachine) gradients() ([][]float32, error) {
	if mc.fast != nil || mc.dev != nil {
		return mc.grads, nil
	}
	out := make([][]float32, len(mc.c.Learnables))
	for i, n := range mc.c.Learnables {
		gv, err := n.Grad()
		if err != nil {
			return nil, fmt.Errorf("engine: gradient of %s: %w", n.Name(), err)
		}
		out[i] = gv.Data().([]float32)
	}
	return out, nil
}

func (mc *classMachine) close() {
	if mc == nil {
		return
	}
	if mc.fast != nil {
		mc.fast.close()
	}
	if mc.dev != nil {
		mc.dev.close()
	}
	if mc.vm != nil {
		mc.vm.Close()
	}
}

// countErrors counts the rows r < len(idx) whose largest logit (the first,
// on ties) is not the label of sample idx[r], and writes each row's
// prediction into pred (when not nil).
func countErrors(logits []float32, classes int, lab []uint8, idx []int, pred []uint8) int {
	errs := 0
	for r, i := range idx {
		row := logits[r*classes : (r+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best != int(lab[i]) {
			errs++
		}
		if pred != nil {
			pred[r] = uint8(best)
		}
	}
	return errs
}

// Finetuner trains a classifier: its parameters, a training machine, a
// forward-only machine sharing the parameters, and Adam's state.
type Finetuner struct {
	Config FinetuneConfig
	Params *graph.ClassifierParams

	train, eval *classMachine
	adam        Adam
	padam       *parallelAdam
	vel         [][]float32 // SGD's velocities, one per parameter tensor
	step        int

	// The run's position, kept between epochs (and in checkpoints).
	epoch   int            // epochs completed
	rng     *rand.PCG      // the shuffling stream
	best    [][]float32    // the parameters of the best epoch so far
	res     FinetuneResult // the best epoch so far
	seconds float64        // fine-tuning time before a resume

	// Save, if set, is called with the run's state after every epoch
	// (engine.WriteFinetuneCheckpoint, say); an error stops the run.
	Save func(*FinetuneCheckpoint) error
}

// NewFinetuner builds the machines around float32 parameters p (from
// ClassifierFromCAE or RandomClassifier). With Device CUDA the network's
// forward and backward passes run on the CUDA VM (a gpu build on a machine
// with a GPU; elsewhere ErrNoCUDA) and the optimizer on the host, as on
// the CPU.
func NewFinetuner(cfg FinetuneConfig, p *graph.ClassifierParams) (*Finetuner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("engine: parameters are %v, want float32", p.Dtype())
	}
	if fmt.Sprint(p.Spec) != fmt.Sprint(cfg.Spec) {
		return nil, fmt.Errorf("engine: parameters are for %+v, the configuration is %+v", p.Spec, cfg.Spec)
	}
	f := &Finetuner{Config: cfg, Params: p, adam: NewAdam(asParams(p), cfg.Adam)}
	if cfg.Optimizer == OptSGD {
		f.vel = make([][]float32, len(p.Tensors))
		for i, t := range p.Tensors {
			f.vel[i] = make([]float32, len(t.Data().([]float32)))
		}
	}
	var err error
	if f.train, err = newClassMachine(p, cfg.Batch, true, cfg.Machine, cfg.Device); err != nil {
		return nil, err
	}
	if f.eval, err = newClassMachine(p, EvalBatch, false, cfg.Machine, cfg.Device); err != nil {
		f.train.close()
		return nil, err
	}
	return f, nil
}

// Close releases the machines.
func (f *Finetuner) Close() {
	f.train.close()
	f.eval.close()
}

// Steps is the number of optimizer steps taken.
func (f *Finetuner) Steps() int { return f.step }

// ClassStep is one batch's results, means over its real rows.
type ClassStep struct {
	Loss   float64 // mean cross-entropy
	Errors int     // rows misclassified (before the step's update)
	Rows   int
}

// Step trains on rows idx of s with labels lab: one forward and backward
// run, then one Adam step. A non-finite loss or gradient returns
// ErrDiverged and leaves the parameters untouched.
func (f *Finetuner) Step(s Samples, lab []uint8, idx []int) (ClassStep, error) {
	mc := f.train
	if s.Dim != mc.inputDim {
		return ClassStep{}, fmt.Errorf("engine: samples have %d values, the classifier's input has %d", s.Dim, mc.inputDim)
	}
	if p := f.Config.InputDropout; p > 0 {
		rng := rand.New(rand.NewPCG(f.Config.Seed^0x6e6f697365, uint64(f.step))) // "noise"
		keep := float32(1 / (1 - p))
		mc.corrupt = func(xs []float32) { dropInputs(xs, p, keep, rng) }
	}
	if err := mc.run(s, lab, idx); err != nil {
		return ClassStep{}, err
	}
	r := ClassStep{
		Loss:   float64(mc.value(mc.c.Loss)[0]),
		Errors: countErrors(mc.value(mc.c.Logits), mc.classes, lab, idx, nil),
		Rows:   len(idx),
	}
	grads, err := mc.gradients()
	if err != nil {
		return r, err
	}
	if !finite(r.Loss) {
		zeroAll(grads)
		return r, fmt.Errorf("%w at step %d: loss is %v", ErrDiverged, f.step+1, r.Loss)
	}
	if f.Config.WeightDecay > 0 {
		for i, g := range grads {
			if len(f.Params.Shapes[i].Shape) == 2 { // weights, not biases
				wdAdd(g, f.Params.Tensors[i].Data().([]float32), float32(f.Config.WeightDecay))
			}
		}
	}
	bad := -1
	if f.Config.Optimizer == OptSGD {
		for i, g := range grads {
			if !kernels.AllFinite(g) {
				bad = i
				break
			}
		}
		if bad < 0 {
			for i, g := range grads {
				sgdStep(f.Params.Tensors[i].Data().([]float32), g, f.vel[i], float32(f.adam.Hyper.LR), float32(f.Config.Momentum))
			}
		}
	} else if p := mc.fast; p != nil && p.pool.workers > 1 {
		if !f.padam.uses(grads) {
			f.padam = newParallelAdam(&f.adam, grads, p.pool.workers)
		}
		bad = f.padam.step(p.pool)
	} else {
		for i, g := range grads {
			if !kernels.AllFinite(g) {
				bad = i
				break
			}
		}
		if bad < 0 {
			f.adam.Step(grads) // zeroes Gorgonia's accumulated gradients
		}
	}
	if bad >= 0 {
		zeroAll(grads)
		return r, fmt.Errorf("%w at step %d: gradient of %s is not finite", ErrDiverged, f.step+1, f.Params.Shapes[bad].Name)
	}
	f.step++
	return r, nil
}

// dropInputs sets each value of xs to 0 with probability p and scales the
// others by keep (1/(1−p)).
func dropInputs(xs []float32, p float64, keep float32, rng *rand.Rand) {
	for i := range xs {
		if rng.Float64() < p {
			xs[i] = 0
		} else {
			xs[i] *= keep
		}
	}
}

// wdAdd adds wd·w to the gradient g: the gradient of (wd/2)·‖w‖².
func wdAdd(g, w []float32, wd float32) {
	for i := range g {
		g[i] += wd * w[i]
	}
}

// sgdStep is one step of SGD with momentum mu on parameter w with gradient
// g and velocity v: v ← mu·v + g, w ← w − lr·v. It zeroes g (Gorgonia
// accumulates gradients across runs).
func sgdStep(w, g, v []float32, lr, mu float32) {
	for i := range w {
		v[i] = mu*v[i] + g[i]
		w[i] -= lr * v[i]
		g[i] = 0
	}
}

// ClassEval is a classifier's results on a set of samples.
type ClassEval struct {
	N      int     `json:"n"`      // samples evaluated
	Loss   float64 `json:"loss"`   // mean cross-entropy
	Errors int     `json:"errors"` // misclassified samples
	Error  float64 `json:"error"`  // Errors / N
	// Pred is each sample's predicted class (the largest logit).
	Pred []uint8 `json:"-"`
}

// Evaluate runs the forward-only machine over every sample of s, with
// labels lab, in batches of EvalBatch.
func (f *Finetuner) Evaluate(s Samples, lab []uint8) (ClassEval, error) {
	return evaluateClassifier(f.eval, s, lab)
}

func evaluateClassifier(mc *classMachine, s Samples, lab []uint8) (ClassEval, error) {
	if s.Dim != mc.inputDim {
		return ClassEval{}, fmt.Errorf("engine: samples have %d values, the classifier's input has %d", s.Dim, mc.inputDim)
	}
	if len(lab) != s.N {
		return ClassEval{}, fmt.Errorf("engine: %d labels for %d samples", len(lab), s.N)
	}
	res := ClassEval{N: s.N, Pred: make([]uint8, s.N)}
	b := mc.c.Batch
	idx := make([]int, 0, b)
	for start := 0; start < s.N; start += b {
		idx = idx[:0]
		for i := start; i < min(start+b, s.N); i++ {
			idx = append(idx, i)
		}
		if err := mc.run(s, lab, idx); err != nil {
			return res, err
		}
		for _, v := range mc.value(mc.c.XentPer)[:len(idx)] {
			res.Loss += float64(v)
		}
		res.Errors += countErrors(mc.value(mc.c.Logits), mc.classes, lab, idx, res.Pred[start:start+len(idx)])
	}
	if s.N > 0 {
		res.Loss /= float64(s.N)
		res.Error = float64(res.Errors) / float64(s.N)
	}
	return res, nil
}

// ClassifierEvaluator runs a trained classifier forward only.
type ClassifierEvaluator struct {
	Params *graph.ClassifierParams
	mc     *classMachine
}

// NewClassifierEvaluator builds a forward-only machine over float32
// parameters p.
func NewClassifierEvaluator(p *graph.ClassifierParams) (*ClassifierEvaluator, error) {
	if p.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("engine: parameters are %v, want float32", p.Dtype())
	}
	mc, err := newClassMachine(p, EvalBatch, false, FastVM, CPU)
	if err != nil {
		return nil, err
	}
	return &ClassifierEvaluator{Params: p, mc: mc}, nil
}

// Evaluate is Finetuner.Evaluate.
func (e *ClassifierEvaluator) Evaluate(s Samples, lab []uint8) (ClassEval, error) {
	return evaluateClassifier(e.mc, s, lab)
}

// Close releases the machine.
func (e *ClassifierEvaluator) Close() { e.mc.close() }

// SplitValidation splits a training set into its first N−val samples (for
// training) and its last val samples (for validation), as the MNIST
// 50,000/10,000 split of Rifai et al. and their predecessors does. The
// halves share s's backing array. val 0 trains on all of s (an empty
// validation split).
func SplitValidation(s Samples, lab []uint8, val int) (train Samples, trainLab []uint8, valid Samples, validLab []uint8, err error) {
	if val < 0 || val >= s.N {
		return s, lab, Samples{}, nil, fmt.Errorf("engine: a validation split of %d samples needs 0 ≤ val < %d (the training set's size)", val, s.N)
	}
	n := s.N - val
	train = Samples{X: s.X[:n*s.Dim], N: n, Dim: s.Dim}
	valid = Samples{X: s.X[n*s.Dim:], N: val, Dim: s.Dim}
	return train, lab[:n], valid, lab[n:], nil
}

// FinetuneEpoch is one epoch's metrics: one line of a fine-tuning run's
// metrics.jsonl.
type FinetuneEpoch struct {
	Event      string  `json:"event"` // "epoch"
	Epoch      int     `json:"epoch"`
	Step       int     `json:"step"`
	TrainLoss  float64 `json:"train_loss"`  // mean cross-entropy over the epoch's steps (weights changing as it goes)
	TrainError float64 `json:"train_error"` // fraction of the epoch's samples misclassified when stepped on
	// ValLoss and ValError are the mean cross-entropy and the error on the
	// validation split after the epoch; nil when there is none.
	ValLoss  *float64 `json:"val_loss,omitempty"`
	ValError *float64 `json:"val_error,omitempty"`
	Best     bool     `json:"best"`    // the lowest validation error so far (ties: the earlier epoch); without validation, every epoch
	Seconds  float64  `json:"seconds"` // wall time since fine-tuning started
}

// FinetuneResult is what Finetune returns. Without a validation split
// BestEpoch is the last epoch and BestValError and BestValLoss are 0.
type FinetuneResult struct {
	BestEpoch    int     `json:"best_epoch"`
	BestValError float64 `json:"best_val_error"`
	BestValLoss  float64 `json:"best_val_loss"`
	Steps        int     `json:"steps"`
	Seconds      float64 `json:"seconds"`
}

// Finetune trains f for Config.Epochs epochs over train (labels trainLab),
// each over a fresh seeded shuffle, with the learning rate of
// Config.Schedule, evaluates the validation split after
// each epoch, and finally restores the parameters of the epoch with the
// lowest validation error. With an empty validation split (val.N == 0)
// every training sample is trained on and the last epoch's parameters are
// kept: the refit of a recipe whose epoch count was chosen on a validation
// split before. onEpoch (optional) sees each epoch's metrics;
// onStep (optional) is called after every step. The test set is not
// touched: evaluate it once, afterwards.
func Finetune(ctx context.Context, f *Finetuner, train Samples, trainLab []uint8, val Samples, valLab []uint8,
	onEpoch func(FinetuneEpoch) error, onStep func(epoch, step, total int, loss float64)) (FinetuneResult, error) {
	c := f.Config
	if train.N == 0 {
		return FinetuneResult{}, errors.New("engine: fine-tuning needs training samples")
	}
	if f.rng == nil { // a fresh run (Resume sets them all)
		f.rng = rand.NewPCG(c.Seed, 0x66696e6574756e65) // "finetune"
		f.best = make([][]float32, len(f.Params.Tensors))
		for i, t := range f.Params.Tensors {
			f.best[i] = make([]float32, len(t.Data().([]float32)))
		}
		f.res = FinetuneResult{BestEpoch: 0, BestValError: math.Inf(1)}
	}
	rng := rand.New(f.rng)
	perm := make([]int, train.N)
	best := f.best
	res := &f.res
	per := (train.N + c.Batch - 1) / c.Batch
	total := per * c.Epochs
	start := time.Now()
	var data DataID
	if f.Save != nil {
		data = DataIDOf(train)
	}
	for epoch := f.epoch + 1; epoch <= c.Epochs; epoch++ {
		for i := range perm {
			perm[i] = i
		}
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var loss float64
		var errs, rows int
		for off := 0; off < len(perm); off += c.Batch {
			if err := ctx.Err(); err != nil {
				return *res, err
			}
			idx := perm[off:min(off+c.Batch, len(perm))]
			f.adam.Hyper.LR = c.lrAt(f.step, total) // read by Adam at each step
			r, err := f.Step(train, trainLab, idx)
			if err != nil {
				return *res, err
			}
			loss += r.Loss * float64(r.Rows)
			errs += r.Errors
			rows += r.Rows
			if onStep != nil {
				onStep(epoch, f.step, total, r.Loss)
			}
		}
		m := FinetuneEpoch{
			Event: "epoch", Epoch: epoch, Step: f.step,
			TrainLoss: loss / float64(rows), TrainError: float64(errs) / float64(rows),
		}
		if val.N == 0 {
			m.Best = true
			res.BestEpoch, res.BestValError, res.BestValLoss = epoch, 0, 0
		} else {
			ev, err := f.Evaluate(val, valLab)
			if err != nil {
				return *res, fmt.Errorf("engine: evaluating the validation split: %w", err)
			}
			m.ValLoss, m.ValError = &ev.Loss, &ev.Error
			if ev.Error < res.BestValError {
				m.Best = true
				res.BestEpoch, res.BestValError, res.BestValLoss = epoch, ev.Error, ev.Loss
			}
		}
		if m.Best {
			for i, t := range f.Params.Tensors {
				copy(best[i], t.Data().([]float32))
			}
		}
		m.Seconds = f.seconds + time.Since(start).Seconds()
		f.epoch = epoch
		if onEpoch != nil {
			if err := onEpoch(m); err != nil {
				return *res, err
			}
		}
		if f.Save != nil {
			if err := f.Save(f.checkpoint(data, m.Seconds)); err != nil {
				return *res, err
			}
		}
	}
	for i, t := range f.Params.Tensors {
		copy(t.Data().([]float32), best[i])
	}
	res.Steps, res.Seconds = f.step, f.seconds+time.Since(start).Seconds()
	return *res, nil
}

// Confusion is the confusion matrix of predictions pred against labels
// lab: m[true][predicted] counts.
func Confusion(lab, pred []uint8, classes int) ([][]int, error) {
	if len(lab) != len(pred) {
		return nil, fmt.Errorf("engine: %d labels, %d predictions", len(lab), len(pred))
	}
	m := make([][]int, classes)
	for i := range m {
		m[i] = make([]int, classes)
	}
	for i, l := range lab {
		if int(l) >= classes || int(pred[i]) >= classes {
			return nil, fmt.Errorf("engine: sample %d: label %d, prediction %d, for %d classes", i, l, pred[i], classes)
		}
		m[l][pred[i]]++
	}
	return m, nil
}
