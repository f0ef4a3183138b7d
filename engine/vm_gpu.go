// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package engine

import (
	"fmt"
	"math/rand/v2"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
)

// gpuVM is the CUDA VM: it runs the training graph — forward and
// Gorgonia's symbolic gradient nodes, the very graph the CPU VMs run — on
// the GPU. Every tensor lives in device memory allocated once with
// cu.MemAlloc: parameters, gradients, Adam's moments, every node's value
// and the whole training set. A step uploads only the batch's row indices
// (and the CAE+H noise, drawn on the host from the same (seed, step)
// stream as on the CPU, so both devices see the same numbers), gathers the
// rows on the device, runs one kernel (or cuBLAS call) per node, then
// Adam. The loss terms are summed on the device and read back only by
// flush, when the loop logs. An op without a CUDA kernel is an error when
// the VM is built, never a host fallback.
type gpuVM struct {
	dev  *kernels.Device
	m    *graph.Model
	prog []func() error
	buf  map[*G.Node]kernels.Buf
	own  []kernels.Buf // what Close frees

	params, grads, mom, vel []kernels.Buf
	hyper                   kernels.AdamHyper
	t                       int // Adam steps taken

	data    kernels.Buf // the training set, uploaded once
	dataOf  *float32    // which Samples it holds
	dataN   int
	idx     kernels.IntBuf
	idxHost []int32
	x, mask kernels.Buf
	invn    kernels.Buf
	noise   []kernels.Buf
	noiseH  []float32
	src     *rand.PCG
	rng     *rand.Rand

	scal, acc, tmp kernels.Buf // [loss recon pen hess], their row-weighted sums, scratch
	rows, steps    int         // rows and steps in acc
	// slot[i] is where scal's value i is computed: i itself, or the slot
	// of an earlier one that is the same graph node (at λ = 0 the loss is
	// the reconstruction term alone, and Gorgonia makes the two one node).
	slot [4]int
	loss kernels.Buf // where the loss is computed (scal at its slot)

	// bad is the first step whose loss or a gradient was not finite (0:
	// none), raised on the device by MarkNonFinite; Adam skips every step
	// once it is set, so the device keeps the parameters of the step
	// before. flush reads it into badStep.
	bad     kernels.IntBuf
	badStep int
}

// newDeviceStepper builds the CUDA VM for cfg on p (host copies, uploaded).
func newDeviceStepper(p *graph.Params, cfg Config) (deviceStepper, error) {
	dev, err := cudaDevice()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCUDA, err)
	}
	m, err := graph.Build(p, cfg.Batch, graph.Options{Grad: true})
	if err != nil {
		return nil, err
	}
	vm := &gpuVM{dev: dev, m: m, buf: map[*G.Node]kernels.Buf{}, hyper: cfg.Adam}
	if err := vm.build(p, cfg); err != nil {
		vm.close()
		return nil, err
	}
	return vm, nil
}

func (vm *gpuVM) alloc(n int) (kernels.Buf, error) {
	b, err := vm.dev.Alloc(max(n, 1))
	if err != nil {
		return b, err
	}
	vm.own = append(vm.own, b)
	return b, vm.dev.Zero(b)
}

func (vm *gpuVM) build(p *graph.Params, cfg Config) error {
	m := vm.m
	batch, n0 := cfg.Batch, cfg.Spec.Arch[0]
	var err error
	if vm.x, err = vm.alloc(batch * n0); err != nil {
		return err
	}
	if vm.mask, err = vm.alloc(batch); err != nil {
		return err
	}
	if vm.invn, err = vm.alloc(1); err != nil {
		return err
	}
	if vm.idx, err = vm.dev.AllocInts(batch); err != nil {
		return err
	}
	vm.idxHost = make([]int32, batch)
	vm.buf[m.X], vm.buf[m.Mask], vm.buf[m.InvN] = vm.x, vm.mask, vm.invn
	for _, n := range m.Noise {
		b, err := vm.alloc(batch * n0)
		if err != nil {
			return err
		}
		vm.noise = append(vm.noise, b)
		vm.buf[n] = b
	}
	if len(vm.noise) > 0 {
		vm.noiseH = make([]float32, batch*n0)
		vm.src = rand.NewPCG(0, 0)
		vm.rng = rand.New(vm.src)
	}
	for i, n := range m.Learnables {
		size := p.Tensors[i].Shape().TotalSize()
		var bs [3]kernels.Buf
		for j := range bs {
			if bs[j], err = vm.alloc(size); err != nil {
				return err
			}
		}
		vm.buf[n] = bs[0]
		vm.params = append(vm.params, bs[0])
		vm.mom = append(vm.mom, bs[1])
		vm.vel = append(vm.vel, bs[2])
	}
	// The four reported means share one buffer, so one Scale and one Add
	// a step fold them into acc.
	if vm.scal, err = vm.alloc(4); err != nil {
		return err
	}
	if vm.acc, err = vm.alloc(4); err != nil {
		return err
	}
	if vm.tmp, err = vm.alloc(4); err != nil {
		return err
	}
	if vm.bad, err = vm.dev.AllocInts(1); err != nil {
		return err
	}
	seen := map[*G.Node]int{}
	for i, n := range []*G.Node{m.Loss, m.Recon, m.Penalty, m.Hess} {
		vm.slot[i] = i
		if n == nil {
			continue
		}
		if j, ok := seen[n]; ok {
			vm.slot[i] = j
			continue
		}
		seen[n] = i
		vm.buf[n] = vm.scal.Slice(i, i+1)
	}
	vm.loss = vm.buf[m.Loss]
	targets := G.Nodes{m.Loss, m.Recon, m.Penalty}
	if m.Hess != nil {
		targets = append(targets, m.Hess)
	}
	targets = append(targets, m.Grads...)
	if err := vm.plan(m.Graph, targets); err != nil {
		return err
	}
	for _, g := range m.Grads {
		vm.grads = append(vm.grads, vm.buf[g])
	}
	a := NewAdam(p, cfg.Adam)
	return vm.upload(p, &a)
}

// plan orders the nodes the targets need, children first, allocates each
// one's value on the device and records its launch.
func (vm *gpuVM) plan(g *G.ExprGraph, targets G.Nodes) error {
	order, err := dependencyOrder(g, targets)
	if err != nil {
		return err
	}
	for _, n := range order {
		if err := vm.planNode(n, children(g, n)); err != nil {
			return err
		}
	}
	return nil
}

func (vm *gpuVM) planNode(n *G.Node, kids []*G.Node) error {
	op := n.Op()
	out, bound := vm.buf[n]
	if op == nil {
		if !bound {
			return fmt.Errorf("engine: CUDA VM: input %s is not bound", n.Name())
		}
		return nil
	}
	size := max(n.Shape().TotalSize(), 1)
	if !bound {
		var err error
		if out, err = vm.alloc(size); err != nil {
			return err
		}
		vm.buf[n] = out
	}
	if op.Arity() == 0 { // a constant
		var host []float32
		switch v := n.Value().Data().(type) {
		case float32:
			host = []float32{v}
		case []float32:
			host = v
		default:
			return fmt.Errorf("engine: CUDA VM: constant %v holds %T", n, v)
		}
		return vm.dev.Upload(out, host)
	}
	in := make([]kernels.Buf, len(kids))
	for i, k := range kids {
		in[i] = vm.buf[k]
	}
	f, err := vm.launcher(op, out, in)
	if err != nil {
		return fmt.Errorf("engine: CUDA VM: node %v: %w", n, err)
	}
	vm.prog = append(vm.prog, f)
	return nil
}

// launcher returns the launch of op's CUDA kernel on fixed buffers.
func (vm *gpuVM) launcher(op G.Op, out kernels.Buf, in []kernels.Buf) (func() error, error) {
	d := vm.dev
	info, ok := graph.Info(op)
	if !ok {
		// gorgonia.Grad sums a node's gradients with its own addition.
		if isGradSum(op) && len(in) == 2 {
			return func() error { return d.Add(out, in[0], in[1]) }, nil
		}
		return nil, fmt.Errorf("no CUDA kernel for op %v", op)
	}
	D, act, bce := info.Dims, info.Act, info.BCE
	dim := func(i int) int { return D[i] }
	switch info.Name {
	case "matmul":
		return func() error { return d.MatMul(out, in[0], in[1], dim(0), dim(1), dim(2), info.TA, info.TB) }, nil
	case "biasact":
		return func() error { return d.BiasAct(out, in[0], in[1], dim(0), dim(1), act) }, nil
	case "act.backward":
		return func() error { return d.ActBackward(out, in[0], in[1], act) }, nil
	case "act.deriv":
		return func() error { return d.ActDeriv(out, in[0], act) }, nil
	case "act.deriv.backward":
		return func() error { return d.ActDerivBackward(out, in[0], in[1], act) }, nil
	case "act":
		return func() error { return d.Apply(out, in[0], act) }, nil
	case "colsum":
		return func() error { return d.ColSum(out, in[0], dim(0), dim(1)) }, nil
	case "recon":
		return func() error { return d.ReconLoss(out, in[0], in[1], dim(0), dim(1), act, bce) }, nil
	case "recon.backward":
		return func() error { return d.ReconGrad(out, in[0], in[1], in[2], dim(0), dim(1), act, bce) }, nil
	case "softmaxxent":
		return func() error { return d.SoftmaxXent(out, in[0], in[1], dim(0), dim(1)) }, nil
	case "softmaxxent.backward":
		return func() error { return d.SoftmaxXentGrad(out, in[0], in[1], in[2], dim(0), dim(1)) }, nil
	case "loss":
		K := len(in) - 2
		return func() error { return d.LossCombine(out, in[:K], info.Weights, in[K], in[K+1]) }, nil
	case "loss.backward":
		return func() error { return d.MaskWeights(out, in[0], in[1], in[2], info.Weights[0]) }, nil
	case "colsumsq":
		return func() error { return d.ColSumSq(out, in[0], dim(0), dim(1)) }, nil
	case "colsumsq.backward":
		return func() error { return d.ColSumSqGrad(out, in[0], in[1], dim(0), dim(1)) }, nil
	case "diagpen":
		return func() error { return d.DiagPen(out, in[0], in[1], dim(0), dim(1)) }, nil
	case "diagpen.dd":
		return func() error { return d.DiagPenGradD(out, in[0], in[1], in[2], dim(0), dim(1)) }, nil
	case "diagpen.dc":
		return func() error { return d.DiagPenGradC(out, in[0], in[1], dim(0), dim(1)) }, nil
	case "outerscale":
		return func() error { return d.OuterScale(out, in[0], in[1], in[2], dim(0), dim(1), dim(2)) }, nil
	case "outerscale.ddl":
		return func() error { return d.OuterScaleGradDL(out, in[0], in[1], in[2], dim(0), dim(1), dim(2)) }, nil
	case "outerscale.dw":
		return func() error { return d.OuterScaleGradW(out, in[0], in[1], in[2], dim(0), dim(1), dim(2)) }, nil
	case "outerscale.ddp":
		return func() error { return d.OuterScaleGradDP(out, in[0], in[1], in[2], dim(0), dim(1), dim(2)) }, nil
	case "scalecols":
		return func() error { return d.ScaleCols(out, in[0], in[1], dim(0), dim(1), dim(2)) }, nil
	case "rowdot":
		return func() error { return d.RowDot(out, in[0], in[1], dim(0), dim(1), dim(2)) }, nil
	case "quadform":
		u, err := vm.alloc(dim(0) * dim(1) * dim(2))
		if err != nil {
			return nil, err
		}
		return func() error { return d.QuadFormBLAS(out, in[0], in[1], u, dim(0), dim(1), dim(2)) }, nil
	case "quadform.dt":
		s, err := vm.alloc(dim(2) * dim(2))
		if err != nil {
			return nil, err
		}
		return func() error { return d.QuadFormGradTBLAS(out, in[0], in[1], in[2], s, dim(0), dim(1), dim(2)) }, nil
	case "quadform.dg":
		u, err := vm.alloc(dim(0) * dim(1) * dim(2))
		if err != nil {
			return nil, err
		}
		return func() error { return d.QuadFormGradGBLAS(out, in[0], in[1], u, dim(0), dim(1), dim(2)) }, nil
	case "sub":
		return func() error { return d.Sub(out, in[0], in[1]) }, nil
	case "add":
		return func() error { return d.Add(out, in[0], in[1]) }, nil
	case "scale":
		k := float32(info.Weights[0])
		return func() error { return d.Scale(out, in[0], k) }, nil
	}
	return nil, fmt.Errorf("no CUDA kernel for op %s", info.Name)
}

func (vm *gpuVM) step(s Samples, idx []int, seed uint64, step int) (StepResult, error) {
	d := vm.dev
	if len(idx) == 0 || len(idx) > vm.m.Batch {
		return StepResult{}, fmt.Errorf("engine: %d rows for a batch of %d", len(idx), vm.m.Batch)
	}
	if err := vm.ensureData(s); err != nil {
		return StepResult{}, err
	}
	for i, r := range idx {
		vm.idxHost[i] = int32(r)
	}
	ix := vm.idx.Slice(0, len(idx))
	if err := d.UploadInts(ix, vm.idxHost[:len(idx)]); err != nil {
		return StepResult{}, err
	}
	if err := d.GatherRows(vm.x, vm.mask, vm.invn, vm.data, ix, vm.m.Batch, s.Dim); err != nil {
		return StepResult{}, err
	}
	if len(vm.noise) > 0 {
		// The same stream as the CPU machine's (machine.run).
		vm.src.Seed(seed^0x636165682b6e6f69, uint64(step))
		sigma := vm.m.Spec.HessSigma
		for _, nb := range vm.noise {
			for i := range vm.noiseH {
				vm.noiseH[i] = float32(sigma * vm.rng.NormFloat64())
			}
			if err := d.Upload(nb, vm.noiseH); err != nil {
				return StepResult{}, err
			}
		}
	}
	for _, f := range vm.prog {
		if err := f(); err != nil {
			return StepResult{}, err
		}
	}
	// A non-finite loss or gradient raises bad (the first such step's
	// number), and Adam then changes nothing, on the device, without the
	// host waiting: as on the CPU, such a step leaves the state as it was.
	if err := d.MarkNonFinite(vm.bad, vm.loss, step); err != nil {
		return StepResult{}, err
	}
	for _, g := range vm.grads {
		if err := d.MarkNonFinite(vm.bad, g, step); err != nil {
			return StepResult{}, err
		}
	}
	vm.t++
	for i, p := range vm.params {
		if err := d.AdamStepUnless(p, vm.grads[i], vm.mom[i], vm.vel[i], vm.t, vm.hyper, vm.bad); err != nil {
			return StepResult{}, err
		}
	}
	// acc += rows · [loss recon pen hess], on the device.
	if err := d.Scale(vm.tmp, vm.scal, float32(len(idx))); err != nil {
		return StepResult{}, err
	}
	if err := d.Add(vm.acc, vm.acc, vm.tmp); err != nil {
		return StepResult{}, err
	}
	vm.rows += len(idx)
	vm.steps++
	return StepResult{Rows: len(idx), Deferred: true}, nil
}

// ensureData uploads the training set the first time it is seen.
func (vm *gpuVM) ensureData(s Samples) error {
	if s.N == 0 {
		return fmt.Errorf("engine: no samples")
	}
	if vm.dataOf == &s.X[0] && vm.dataN == s.N {
		return nil
	}
	if vm.data.N > 0 {
		if err := vm.dev.Free(vm.data); err != nil {
			return err
		}
		vm.data = kernels.Buf{}
	}
	b, err := vm.dev.Alloc(s.N * s.Dim)
	if err != nil {
		return fmt.Errorf("engine: the training set (%d MB) does not fit on the device: %w", s.N*s.Dim*4>>20, err)
	}
	if err := vm.dev.Upload(b, s.X[:s.N*s.Dim]); err != nil {
		vm.dev.Free(b)
		return err
	}
	vm.data, vm.dataOf, vm.dataN = b, &s.X[0], s.N
	return nil
}

func (vm *gpuVM) pending() int { return vm.steps }

func (vm *gpuVM) diverged() int { return vm.badStep }

func (vm *gpuVM) flush() (StepResult, error) {
	if vm.steps == 0 {
		return StepResult{}, nil
	}
	var sums [4]float32
	if err := vm.dev.Download(sums[:], vm.acc); err != nil { // waits for the queued steps
		return StepResult{}, err
	}
	var bad [1]int32
	if err := vm.dev.DownloadInts(bad[:], vm.bad); err != nil {
		return StepResult{}, err
	}
	vm.badStep = int(bad[0])
	if err := vm.dev.Zero(vm.acc); err != nil {
		return StepResult{}, err
	}
	for i, j := range vm.slot {
		sums[i] = sums[j]
	}
	n := float64(vm.rows)
	r := StepResult{
		Loss: float64(sums[0]) / n, Recon: float64(sums[1]) / n, Penalty: float64(sums[2]) / n, Hess: float64(sums[3]) / n,
		Rows: vm.rows,
	}
	vm.rows, vm.steps = 0, 0
	return r, nil
}

func (vm *gpuVM) download(p *graph.Params, a *Adam) error {
	for i, t := range p.Tensors {
		if err := vm.dev.Download(t.Data().([]float32), vm.params[i]); err != nil {
			return err
		}
		if err := vm.dev.Download(a.M[i], vm.mom[i]); err != nil {
			return err
		}
		if err := vm.dev.Download(a.V[i], vm.vel[i]); err != nil {
			return err
		}
	}
	a.T = vm.t
	return nil
}

func (vm *gpuVM) upload(p *graph.Params, a *Adam) error {
	for i, t := range p.Tensors {
		if err := vm.dev.Upload(vm.params[i], t.Data().([]float32)); err != nil {
			return err
		}
		if err := vm.dev.Upload(vm.mom[i], a.M[i]); err != nil {
			return err
		}
		if err := vm.dev.Upload(vm.vel[i], a.V[i]); err != nil {
			return err
		}
	}
	vm.t = a.T
	vm.badStep = 0
	return vm.dev.UploadInts(vm.bad, []int32{0})
}

func (vm *gpuVM) close() {
	for _, b := range vm.own {
		vm.dev.Free(b)
	}
	vm.own = nil
	if vm.data.N > 0 {
		vm.dev.Free(vm.data)
		vm.data = kernels.Buf{}
	}
	if vm.idx.N > 0 {
		vm.dev.FreeInts(vm.idx)
		vm.idx = kernels.IntBuf{}
	}
	if vm.bad.N > 0 {
		vm.dev.FreeInts(vm.bad)
		vm.bad = kernels.IntBuf{}
	}
}

// gpuClassVM is the CUDA VM of a fine-tuning classifier (graph.Classifier):
// the forward pass and Gorgonia's gradient nodes run on the device, one
// kernel or cuBLAS call per node as in gpuVM; the optimizer stays on the
// host (Finetuner), so the batch and the parameters are uploaded and the
// loss, logits and gradients read back every run.
type gpuClassVM struct {
	gpuVM // the device, the program and the node buffers; no Model
	c     *graph.Classifier

	x, y, mask, invn kernels.Buf
	params, grads    []kernels.Buf
}

// newDeviceClassMachine builds the CUDA VM for c (gradients too when c has
// them).
func newDeviceClassMachine(c *graph.Classifier) (deviceClassMachine, error) {
	dev, err := cudaDevice()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCUDA, err)
	}
	vm := &gpuClassVM{gpuVM: gpuVM{dev: dev, buf: map[*G.Node]kernels.Buf{}}, c: c}
	if err := vm.build(); err != nil {
		vm.close()
		return nil, err
	}
	return vm, nil
}

func (vm *gpuClassVM) build() error {
	c := vm.c
	s := c.Spec
	var err error
	for _, in := range []struct {
		b    *kernels.Buf
		n    *G.Node
		size int
	}{{&vm.x, c.X, c.Batch * s.Arch[0]}, {&vm.y, c.Y, c.Batch * s.Classes}, {&vm.mask, c.Mask, c.Batch}, {&vm.invn, c.InvN, 1}} {
		if *in.b, err = vm.alloc(in.size); err != nil {
			return err
		}
		vm.buf[in.n] = *in.b
	}
	for _, n := range c.Learnables {
		b, err := vm.alloc(n.Shape().TotalSize())
		if err != nil {
			return err
		}
		vm.buf[n] = b
		vm.params = append(vm.params, b)
	}
	targets := append(G.Nodes{c.Loss, c.Logits}, c.Grads...)
	if err := vm.plan(c.Graph, targets); err != nil {
		return err
	}
	for _, g := range c.Grads {
		vm.grads = append(vm.grads, vm.buf[g])
	}
	return nil
}

func (vm *gpuClassVM) setParams(ts [][]float32) error {
	for i, t := range ts {
		if err := vm.dev.Upload(vm.params[i], t); err != nil {
			return err
		}
	}
	return nil
}

func (vm *gpuClassVM) run(xs, ys, mask, invn []float32) error {
	d := vm.dev
	for _, in := range []struct {
		b kernels.Buf
		v []float32
	}{{vm.x, xs}, {vm.y, ys}, {vm.mask, mask}, {vm.invn, invn}} {
		if err := d.Upload(in.b, in.v); err != nil {
			return err
		}
	}
	for _, f := range vm.prog {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (vm *gpuClassVM) read(n *G.Node, dst []float32) error {
	b, ok := vm.buf[n]
	if !ok || b.N != len(dst) {
		return fmt.Errorf("engine: CUDA VM: node %v is not computed here, or not of %d values", n, len(dst))
	}
	return vm.dev.Download(dst, b)
}

func (vm *gpuClassVM) readGrads(dst [][]float32) error {
	for i, g := range vm.grads {
		if err := vm.dev.Download(dst[i], g); err != nil {
			return err
		}
	}
	return nil
}
