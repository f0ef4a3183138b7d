// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"math/rand/v2"

	"github.com/caetrain/caetrain/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The virtual machines that can run a model graph on the CPU.
const (
	// FastVM is caetrain's own VM (cpuVM): buffers planned once, kernels
	// called directly, nothing allocated per step. The default.
	FastVM = "fast"
	// GorgoniaVM is Gorgonia's TapeMachine, the reference.
	GorgoniaVM = "gorgonia"
)

// machine is one graph and the VM that runs it, with its input tensors.
type machine struct {
	m    *graph.Model
	vm   G.VM   // Gorgonia's TapeMachine, or nil
	fast *cpuVM // caetrain's VM, or nil
	// shards is caetrain's VM in data-parallel form (training on several
	// workers), or nil; fast is then nil.
	shards *sharded
	invn   []float32
	// gradBufs are the fast VM's gradient buffers, in Params order.
	gradBufs [][]float32
	// The inputs' backing arrays (tensor.Dense.Data allocates).
	xs, masks []float32
	noises    [][]float32
	// The CAE+H noise generator, reseeded from (seed, step) every run.
	noiseSrc *rand.PCG
	noiseRNG *rand.Rand
	x        *tensor.Dense // [batch, n0], bound to m.X
	mask     *tensor.Dense // [batch]
	// noise[c] is [batch, n0], bound to m.Noise[c] (CAE+H only).
	noise []*tensor.Dense
}

func newMachine(p *graph.Params, batch int, train bool, kind string) (*machine, error) {
	return newMachineWorkers(p, batch, train, kind, defaultWorkers())
}

// newMachineWorkers is newMachine with caetrain's VM on the given number of
// workers.
func newMachineWorkers(p *graph.Params, batch int, train bool, kind string, workers int) (*machine, error) {
	// Evaluation reports the first-order penalty only: no CAE+H noise.
	m, err := graph.Build(p, batch, graph.Options{Grad: train, Outputs: !train, NoHessian: !train})
	if err != nil {
		return nil, err
	}
	mc := &machine{
		m:    m,
		x:    tensor.New(tensor.WithShape(batch, p.Spec.Arch[0]), tensor.Of(tensor.Float32)),
		mask: tensor.New(tensor.WithShape(batch), tensor.Of(tensor.Float32)),
		invn: make([]float32, 1),
	}
	for range m.Noise {
		nz := tensor.New(tensor.WithShape(batch, p.Spec.Arch[0]), tensor.Of(tensor.Float32))
		mc.noise = append(mc.noise, nz)
		mc.noises = append(mc.noises, nz.Data().([]float32))
	}
	mc.xs, mc.masks = mc.x.Data().([]float32), mc.mask.Data().([]float32)
	switch kind {
	case "", FastVM:
		if S := shardCount(batch, workers); train && S > 1 {
			if mc.shards, err = newSharded(mc, p, batch, S, workers); err != nil {
				return nil, err
			}
			return mc, nil
		}
		bind := map[*G.Node][]float32{
			m.X: mc.xs, m.Mask: mc.masks, m.InvN: mc.invn,
		}
		for i, n := range m.Learnables {
			bind[n] = p.Tensors[i].Data().([]float32)
		}
		for c, n := range m.Noise {
			bind[n] = mc.noises[c]
		}
		targets := G.Nodes{m.Loss, m.Recon, m.Penalty}
		if m.Hess != nil {
			targets = append(targets, m.Hess)
		}
		if train {
			targets = append(targets, m.Grads...)
		} else {
			targets = append(targets, m.ReconPer, m.PenPer, m.Code, m.Output)
		}
		if mc.fast, err = newCPUVM(m.Graph, targets, bind, workers); err != nil {
			return nil, err
		}
	case GorgoniaVM:
		var opts []G.VMOpt
		if train {
			opts = append(opts, G.BindDualValues(m.Learnables...))
		}
		mc.vm = G.NewTapeMachine(m.Graph, opts...)
	default:
		return nil, fmt.Errorf("engine: unknown virtual machine %q (want %s or %s)", kind, FastVM, GorgoniaVM)
	}
	return mc, nil
}

// run copies rows idx of s into the input, zero-pads the rest of the batch,
// sets the mask and 1/n, draws the CAE+H noise for this step, and runs the
// machine.
//
// The noise is a pure function of (seed, step): ε ~ N(0, σ²I) from a PCG
// stream keyed by both, so a resumed run draws exactly what the
// uninterrupted one did, with no generator state to save.
func (mc *machine) run(s Samples, idx []int, seed uint64, step int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("engine: gorgonia panicked: %v", r)
		}
	}()
	b := mc.m.Batch
	if len(idx) == 0 || len(idx) > b {
		return fmt.Errorf("engine: %d rows for a batch of %d", len(idx), b)
	}
	mc.invn[0] = float32(1 / float64(len(idx)))
	if len(mc.noise) > 0 {
		if mc.noiseSrc == nil {
			mc.noiseSrc = rand.NewPCG(0, 0)
			mc.noiseRNG = rand.New(mc.noiseSrc)
		}
		mc.noiseSrc.Seed(seed^0x636165682b6e6f69, uint64(step)) // "caeh+noi"
		rng := mc.noiseRNG
		sigma := mc.m.Spec.HessSigma
		for _, e := range mc.noises {
			for i := range e {
				e[i] = float32(sigma * rng.NormFloat64())
			}
		}
	}
	if mc.shards != nil {
		mc.shards.step(s, idx) // each shard fills its own rows
		return nil
	}
	mc.fill(s, idx, 0, b)
	if mc.fast != nil {
		mc.fast.run()
		return nil
	}
	// Let errors must be checked: on a shape mismatch RunAll would run on
	// stale inputs.
	if err := G.Let(mc.m.X, mc.x); err != nil {
		return fmt.Errorf("engine: set x: %w", err)
	}
	if err := G.Let(mc.m.Mask, mc.mask); err != nil {
		return fmt.Errorf("engine: set mask: %w", err)
	}
	if err := G.Let(mc.m.InvN, mc.invn[0]); err != nil {
		return fmt.Errorf("engine: set 1/n: %w", err)
	}
	for c, nz := range mc.noise {
		if err := G.Let(mc.m.Noise[c], nz); err != nil {
			return fmt.Errorf("engine: set noise %d: %w", c, err)
		}
	}
	mc.vm.Reset()
	if err := mc.vm.RunAll(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	return nil
}

// fill copies rows idx[lo:hi] of s into rows [lo, hi) of the input and
// sets their mask; rows beyond len(idx) are zero padding.
func (mc *machine) fill(s Samples, idx []int, lo, hi int) {
	x, mask := mc.xs, mc.masks
	d := s.Dim
	for r := lo; r < hi; r++ {
		if r < len(idx) {
			copy(x[r*d:(r+1)*d], s.Row(idx[r]))
			mask[r] = 1
		} else {
			clear(x[r*d : (r+1)*d])
			mask[r] = 0
		}
	}
}

// value returns the float32 data node n took in the machine's last run.
func (mc *machine) value(n *G.Node) []float32 {
	if mc.fast != nil {
		b, ok := mc.fast.value(n)
		if !ok {
			panic(fmt.Sprintf("engine: node %v is not computed by this machine", n))
		}
		return b
	}
	v, err := mc.m.Value(n)
	if err != nil {
		panic(err) // only watched nodes are read: a bug in engine
	}
	return v.Data().([]float32)
}

func (mc *machine) scalar(n *G.Node) float64 {
	if mc.shards != nil {
		return mc.shards.scalar(mc.m, n)
	}
	if mc.fast != nil {
		return float64(mc.value(n)[0])
	}
	v, err := mc.m.Value(n)
	if err != nil {
		panic(err)
	}
	return float64(v.Data().(float32))
}

// grads returns the gradients of the learnables from the last run, in
// Params order. With Gorgonia's TapeMachine they accumulate across runs
// until zeroed (Adam's step zeroes them); caetrain's VM overwrites them.
func (mc *machine) grads() ([][]float32, error) {
	if mc.shards != nil {
		return mc.shards.grads, nil // the same buffers every run
	}
	if mc.fast != nil && mc.gradBufs != nil {
		return mc.gradBufs, nil // the same buffers every run
	}
	out := make([][]float32, len(mc.m.Learnables))
	for i, n := range mc.m.Learnables {
		if mc.fast != nil {
			out[i] = mc.value(mc.m.Grads[i])
			continue
		}
		gv, err := n.Grad()
		if err != nil {
			return nil, fmt.Errorf("engine: gradient of %s: %w", n.Name(), err)
		}
		out[i] = gv.Data().([]float32)
	}
	if mc.fast != nil {
		mc.gradBufs = out
	}
	return out, nil
}

func (mc *machine) close() {
	if mc == nil {
		return
	}
	if mc.vm != nil {
		mc.vm.Close()
	}
	if mc.fast != nil {
		mc.fast.close()
	}
	if mc.shards != nil {
		mc.shards.close()
	}
}

// pool is the workers of caetrain's VM, or nil under Gorgonia's.
func (mc *machine) pool() *pool {
	switch {
	case mc.shards != nil:
		return mc.shards.pool
	case mc.fast != nil:
		return mc.fast.pool
	}
	return nil
}
