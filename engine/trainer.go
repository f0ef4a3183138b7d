// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	"gorgonia.org/tensor"
)

// ErrDiverged is returned when the loss or a gradient stops being finite.
var ErrDiverged = errors.New("training diverged")

// Config is a complete training configuration.
type Config struct {
	Spec     graph.Spec
	Batch    int               // samples per optimizer step
	Epochs   int               // passes over the training set
	MaxSteps int               // stop after this many optimizer steps; 0 = no limit
	Adam     kernels.AdamHyper // optimizer hyper-parameters
	Seed     uint64            // parameters and shuffling derive from it alone
	Machine  string            // CPU virtual machine: FastVM (default, "") or GorgoniaVM
	Device   Device            // CPU (default, "") or CUDA (a gpu build on a machine with a GPU)
}

// Validate reports what is wrong with c, naming the setting.
func (c Config) Validate() error {
	var errs []error
	if err := c.Spec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Batch <= 0 {
		errs = append(errs, fmt.Errorf("batch %d: must be positive", c.Batch))
	}
	if c.Epochs < 0 {
		errs = append(errs, fmt.Errorf("epochs %d: must not be negative", c.Epochs))
	}
	if c.MaxSteps < 0 {
		errs = append(errs, fmt.Errorf("max-steps %d: must not be negative", c.MaxSteps))
	}
	if !(c.Adam.LR > 0) || math.IsInf(c.Adam.LR, 0) {
		errs = append(errs, fmt.Errorf("lr %v: must be a positive number", c.Adam.LR))
	}
	if !(c.Adam.Beta1 >= 0 && c.Adam.Beta1 < 1) || !(c.Adam.Beta2 >= 0 && c.Adam.Beta2 < 1) {
		errs = append(errs, fmt.Errorf("adam betas %v, %v: must lie in [0, 1)", c.Adam.Beta1, c.Adam.Beta2))
	}
	if c.Device != "" && c.Device != CPU && c.Device != CUDA {
		errs = append(errs, fmt.Errorf("device %q: want cpu or cuda", c.Device))
	}
	if c.Machine != "" && c.Machine != FastVM && c.Machine != GorgoniaVM {
		errs = append(errs, fmt.Errorf("vm %q: want %s or %s", c.Machine, FastVM, GorgoniaVM))
	}
	if !(c.Adam.Eps > 0) {
		errs = append(errs, fmt.Errorf("adam eps %v: must be positive", c.Adam.Eps))
	}
	return errors.Join(errs...)
}

// Samples is a set of flattened samples, row-major [N, Dim], in [0,1].
type Samples struct {
	X      []float32
	N, Dim int
}

// Row returns sample i.
func (s Samples) Row(i int) []float32 { return s.X[i*s.Dim : (i+1)*s.Dim] }

// Evaluator runs a model forward only, on a graph of its own, so that it
// never touches a training machine's accumulated gradients.
type Evaluator struct {
	Spec   graph.Spec
	Params *graph.Params
	eval   *machine
}

// NewEvaluator builds a forward-only machine over float32 parameters p.
func NewEvaluator(p *graph.Params) (*Evaluator, error) {
	if p.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("engine: parameters are %v, want float32", p.Dtype())
	}
	mc, err := newMachine(p, EvalBatch, false, FastVM)
	if err != nil {
		return nil, err
	}
	return &Evaluator{Spec: p.Spec, Params: p, eval: mc}, nil
}

// Close releases the machine.
func (e *Evaluator) Close() {
	if e != nil && e.eval != nil {
		e.eval.close()
	}
}

// Trainer owns a model's parameters, its training machine, an Evaluator
// sharing the parameters, and the optimizer state.
type Trainer struct {
	*Evaluator
	Config Config

	train *machine
	gpu   deviceStepper // the CUDA VM, when Config.Device is CUDA
	adam  Adam
	padam *parallelAdam // the fast VM's Adam over its workers, or nil
	step  int
	host  int // the step whose parameters the host's copy holds (CUDA VM)
}

// EvalBatch is the batch size of the forward-only evaluation graph.
const EvalBatch = 500

// NewTrainer initialises parameters from cfg.Seed (Glorot-uniform weights,
// zero biases) and builds the machines.
func NewTrainer(cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := graph.NewParams(cfg.Spec, tensor.Float32)
	if err != nil {
		return nil, err
	}
	GlorotInit(p, cfg.Seed)
	return NewTrainerFrom(cfg, p)
}

// NewTrainerFrom builds a trainer around existing float32 parameters.
func NewTrainerFrom(cfg Config, p *graph.Params) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("engine: parameters are %v, want float32", p.Dtype())
	}
	if err := sameSpec(cfg.Spec, p.Spec); err != nil {
		return nil, err
	}
	ev, err := NewEvaluator(p)
	if err != nil {
		return nil, err
	}
	t := &Trainer{Evaluator: ev, Config: cfg}
	if cfg.Device == CUDA {
		if t.gpu, err = newDeviceStepper(p, cfg); err != nil {
			ev.Close()
			return nil, err
		}
	} else if t.train, err = newMachine(p, cfg.Batch, true, cfg.Machine); err != nil {
		ev.Close()
		return nil, err
	}
	t.adam = NewAdam(p, cfg.Adam)
	return t, nil
}

// Deferred reports whether steps' results wait on the device for Flush.
func (t *Trainer) Deferred() bool { return t.gpu != nil && t.gpu.pending() > 0 }

// Flush returns the row-weighted means of the deferred steps since the last
// flush (Rows is their total), reading them from the device. A step with a
// non-finite loss or gradient among them is ErrDiverged at that step; the
// CUDA VM finds out only here, but it has changed nothing since that step
// (Adam skips on the device), so the trainer is left, as on the CPU, in
// the state of the step before it: Steps, HostSteps and Params say so.
func (t *Trainer) Flush() (StepResult, error) {
	if t.gpu == nil {
		return StepResult{}, nil
	}
	r, err := t.gpu.flush()
	if err != nil {
		return r, err
	}
	if bad := t.gpu.diverged(); bad > 0 {
		// The device skipped step bad and every later one: its state is
		// that of step bad−1, which becomes the trainer's, as on the CPU.
		if err := t.gpu.download(t.Params, &t.adam); err != nil {
			return r, err
		}
		issued := t.step
		t.step, t.host, t.adam.T = bad-1, bad-1, bad-1
		if err := t.gpu.upload(t.Params, &t.adam); err != nil {
			return r, err
		}
		return r, fmt.Errorf("%w at step %d: its loss or a gradient is not finite (read back from the device after step %d)", ErrDiverged, bad, issued)
	}
	if !finite(r.Loss) {
		return r, fmt.Errorf("%w by step %d: the mean loss of the last %d samples is %v", ErrDiverged, t.step, r.Rows, r.Loss)
	}
	return r, nil
}

// Sync makes the host's copies of the parameters and the optimizer state
// current (they live on the device under the CUDA VM): call it before
// saving, checkpointing or evaluating. A no-op on the CPU.
func (t *Trainer) Sync() error {
	if t.gpu == nil {
		return nil
	}
	if err := t.gpu.download(t.Params, &t.adam); err != nil {
		return err
	}
	t.host = t.step
	return nil
}

// Upload copies the host's parameters and optimizer state to the device,
// after they were restored from a checkpoint. A no-op on the CPU.
func (t *Trainer) Upload() error {
	if t.gpu == nil {
		return nil
	}
	if err := t.gpu.upload(t.Params, &t.adam); err != nil {
		return err
	}
	t.host = t.step
	return nil
}

// Close releases the machines.
func (t *Trainer) Close() {
	if t.gpu != nil {
		t.gpu.close()
	}
	if t.train != nil {
		t.train.close()
	}
	t.Evaluator.Close()
}

// sameSpec checks that parameters were made for the configured model.
func sameSpec(a, b graph.Spec) error {
	if fmt.Sprint(a) != fmt.Sprint(b) {
		return fmt.Errorf("engine: parameters are for %+v, the configuration is %+v", b, a)
	}
	return nil
}

// Steps is the number of optimizer steps taken.
func (t *Trainer) Steps() int { return t.step }

// HostSteps is the number of steps whose result Params holds: Steps on the
// CPU; under the CUDA VM, the step of the last Sync or Upload (the device
// holds the newer ones), or after a divergence the last good step.
func (t *Trainer) HostSteps() int {
	if t.gpu == nil {
		return t.step
	}
	return t.host
}

// StepResult are one batch's means over its real rows.
type StepResult struct {
	Loss, Recon, Penalty float64
	Hess                 float64 // the CAE+H term's mean; 0 without it
	Rows                 int
	// Deferred is set when the step's means stayed on the device (the CUDA
	// VM): Flush returns them, summed with the other deferred steps'.
	Deferred bool
}

// Step trains on rows idx of s (at most Config.Batch of them): one forward
// and backward run, then one Adam step. A non-finite loss or gradient
// returns ErrDiverged and leaves the parameters untouched.
func (t *Trainer) Step(s Samples, idx []int) (StepResult, error) {
	if s.Dim != t.Config.Spec.Arch[0] {
		return StepResult{}, fmt.Errorf("engine: samples have %d values, the model's input has %d", s.Dim, t.Config.Spec.Arch[0])
	}
	if t.gpu != nil {
		r, err := t.gpu.step(s, idx, t.Config.Seed, t.step+1)
		if err != nil {
			return r, err
		}
		t.step++
		t.adam.T = t.step
		return r, nil
	}
	mc := t.train
	if err := mc.run(s, idx, t.Config.Seed, t.step+1); err != nil {
		return StepResult{}, err
	}
	r := StepResult{
		Loss:    mc.scalar(mc.m.Loss),
		Recon:   mc.scalar(mc.m.Recon),
		Penalty: mc.scalar(mc.m.Penalty),
		Rows:    len(idx),
	}
	if mc.m.Hess != nil {
		r.Hess = mc.scalar(mc.m.Hess)
	}
	grads, err := mc.grads()
	if err != nil {
		return r, err
	}
	if !finite(r.Loss) {
		zeroAll(grads)
		return r, fmt.Errorf("%w at step %d: loss is %v", ErrDiverged, t.step+1, r.Loss)
	}
	bad := -1
	if pa := t.parallelAdam(grads); pa != nil {
		bad = pa.step(mc.pool()) // the check, then the update if it passed
	} else {
		for i, g := range grads {
			if !kernels.AllFinite(g) {
				bad = i
				break
			}
		}
		if bad < 0 {
			t.adam.Step(grads)
		}
	}
	if bad >= 0 {
		zeroAll(grads)
		return r, fmt.Errorf("%w at step %d: gradient of %s is not finite", ErrDiverged, t.step+1, t.Params.Shapes[bad].Name)
	}
	t.step++
	return r, nil
}

// parallelAdam returns the Adam update split over the fast VM's workers,
// planned on first use for its gradient buffers, or nil when the step
// should run serially (Gorgonia's VM, one worker, a small model).
func (t *Trainer) parallelAdam(grads [][]float32) *parallelAdam {
	p := t.train.pool()
	if p == nil || p.workers < 2 || t.Params.Count() < adamMin {
		return nil
	}
	if !t.padam.uses(grads) {
		t.padam = newParallelAdam(&t.adam, grads, p.workers)
	}
	return t.padam
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func zeroAll(gs [][]float32) {
	for _, g := range gs {
		clear(g)
	}
}

// EvalResult are means over the evaluated samples.
type EvalResult struct {
	N            int     `json:"n"`
	Recon        float64 `json:"test_recon"`         // mean per-sample reconstruction loss
	JacobianFro  float64 `json:"test_jacobian_fro"`  // mean ‖J_h(x)‖_F
	JacobianFro2 float64 `json:"test_jacobian_fro2"` // mean ‖J_h(x)‖²_F
	Loss         float64 `json:"test_loss"`          // mean of recon + λ‖J‖²_F
}

// Evaluate computes EvalResult over the first n samples of s (all if n ≤ 0
// or n > s.N) with the forward-only machine.
func (t *Evaluator) Evaluate(s Samples, n int) (EvalResult, error) {
	if n <= 0 || n > s.N {
		n = s.N
	}
	var res EvalResult
	err := t.forEachBatch(s, n, func(idx []int) error {
		recon := t.eval.value(t.eval.m.ReconPer)
		pen := t.eval.value(t.eval.m.PenPer)
		for r := range idx {
			res.Recon += float64(recon[r])
			res.JacobianFro2 += float64(pen[r])
			res.JacobianFro += math.Sqrt(math.Max(float64(pen[r]), 0))
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.N = n
	if n > 0 {
		res.Recon /= float64(n)
		res.JacobianFro /= float64(n)
		res.JacobianFro2 /= float64(n)
	}
	res.Loss = res.Recon + t.Spec.Lambda*res.JacobianFro2
	return res, nil
}

// Reconstruct returns the model's reconstructions of the first n samples of
// s, row-major [n, Dim].
func (t *Evaluator) Reconstruct(s Samples, n int) ([]float32, error) {
	n = min(n, s.N)
	out := make([]float32, 0, n*s.Dim)
	err := t.forEachBatch(s, n, func(idx []int) error {
		o := t.eval.value(t.eval.m.Output)
		out = append(out, o[:len(idx)*s.Dim]...)
		return nil
	})
	return out, err
}

// forEachBatch runs the eval machine over samples [0, n) of s in batches.
func (t *Evaluator) forEachBatch(s Samples, n int, f func(idx []int) error) error {
	if s.Dim != t.Spec.Arch[0] {
		return fmt.Errorf("engine: samples have %d values, the model's input has %d", s.Dim, t.Spec.Arch[0])
	}
	b := t.eval.m.Batch
	idx := make([]int, 0, b)
	for start := 0; start < n; start += b {
		idx = idx[:0]
		for i := start; i < min(start+b, n); i++ {
			idx = append(idx, i)
		}
		if err := t.eval.run(s, idx, 0, 0); err != nil {
			return err
		}
		if err := f(idx); err != nil {
			return err
		}
	}
	return nil
}

// GlorotInit sets every weight to Glorot-uniform values,
// U(−√(6/(fan_in+fan_out)), +√(6/(fan_in+fan_out))), and every bias to zero,
// from a PCG stream derived from seed alone.
func GlorotInit(p *graph.Params, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x676c6f726f74)) // "glorot"
	for i, ps := range p.Shapes {
		switch d := p.Tensors[i].Data().(type) {
		case []float32:
			if ps.Fan[0] == 0 {
				clear(d)
				continue
			}
			a := math.Sqrt(6 / float64(ps.Fan[0]+ps.Fan[1]))
			for j := range d {
				d[j] = float32((2*rng.Float64() - 1) * a)
			}
		case []float64:
			if ps.Fan[0] == 0 {
				clear(d)
				continue
			}
			a := math.Sqrt(6 / float64(ps.Fan[0]+ps.Fan[1]))
			for j := range d {
				d[j] = (2*rng.Float64() - 1) * a
			}
		}
	}
}
