// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"slices"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
)

// Data-parallel training on the CPU. With W workers the fast VM splits a
// training batch into S = min(W, batch/minShardRows) blocks of rows, each
// run start to finish by its own single-worker VM over its own graph (the
// same graph for fewer rows), reading the shared parameters. Every matrix
// product then runs as one whole single-threaded BLAS call per core, and
// the cores meet a few times per step instead of once per op; on two cores
// that makes the products 15–60% faster than splitting each one in halves
// (bench/README.md).
//
// A step has three parts:
//
//   - the prologue, once: the nodes that depend on the parameters alone
//     (the one-layer penalty's Σ_i W_ji², the Gram matrix W₁ᵀW₁), which
//     the shards read;
//   - the shards, in parallel: everything that reads the batch, up to the
//     boundary values, which are summed over the shards;
//   - the epilogue, once, from those sums: the gradient's tail that is
//     linear in them with parameter-only coefficients (the penalty's
//     ∂W = 2·W·diag(c) or 2·W₁·∂G, and the sums of a weight's gradient
//     contributions), so that it is computed once, not once per shard;
//     and, where few rows per shard would make summing the shards' own
//     products cost much, the big weight gradients Xᵀ·δ over the whole
//     batch, one whole product per core, added straight into the sum
//     they feed where that sum's other operand is ready first.
//
// A sum over the shards rounds differently from one VM's sum over the
// batch: a run is bit-for-bit reproducible for a given number of workers
// (GOMAXPROCS), not across them.

// A product over the batch is gathered (splitPlan.gathered) when its
// output has at least gatherMinOut values (beyond the caches, where
// summing the shards' outputs runs at memory speed) and each shard would
// sum fewer than gatherMaxRows rows. Measured on 2 cores: gathering the
// 784×1000 weight gradients is 10–20% faster at 64 rows per shard and
// 5–15% slower at 512; gathering the seed network's small ones is slower.
// (Variables, so that tests can gather small products.)
var (
	gatherMinOut  = 1 << 18
	gatherMaxRows = 256
)

// minShardRows is the fewest rows a shard gets: below it the products get
// too thin for the BLAS to run them well.
const minShardRows = 32

// shardCount is the number of shards a batch is split into.
func shardCount(batch, workers int) int {
	return max(1, min(workers, batch/minShardRows))
}

// shard is one block of rows [lo, hi) of the batch and the VM that runs it.
type shard struct {
	m      *graph.Model
	vm     *cpuVM
	lo, hi int
	// sums are the VM's buffers of the boundary values; shard 0's receive
	// the sum over all shards.
	sums [][]float32
}

// sharded is the training machine's data-parallel form.
type sharded struct {
	shards   []*shard
	prologue *cpuVM   // or nil
	epilogue *cpuVM   // or nil
	packs    []func() // pack the shards' shared right operands (buildPacks)
	packed   int      // how many operands packs packs
	gathered int      // the number of products the epilogue computes over the whole batch
	fused    int      // how many of them it adds into a sum's other operand
	plus     int      // how many such sums start from a penalty gradient the product's kernel adds (kernels.MatMulPlus)
	pool     *pool
	run      []func() // one per shard: fill its rows, run its VM
	reduce   []func() // one per worker: sum a slice of every boundary value into shard 0's
	// grads are the summed gradients, in Params order.
	grads [][]float32
	// The current step's arguments, read by run's closures.
	s   Samples
	idx []int
}

// newSharded builds S shard VMs for a batch whose inputs are the backing
// arrays of mc (x, mask, 1/n, noise): each shard reads its rows of them in
// place.
func newSharded(mc *machine, p *graph.Params, batch, S, workers int) (sh *sharded, err error) {
	models, plans, err := planShards(p, batch, S)
	if err != nil {
		return nil, err
	}
	selectGathered(models, plans)
	gather, into := gatherBuffers(mc, models, plans)

	sh = &sharded{pool: newPool(workers)}
	defer func() {
		if err != nil {
			sh.close()
		}
	}()
	params := map[*G.Node][]float32{}
	for j, n := range models[0].Learnables {
		params[n] = p.Tensors[j].Data().([]float32)
	}
	shared, err := sh.buildPrologue(models[0], plans[0], params, workers)
	if err != nil {
		return nil, err
	}
	if err := sh.buildShards(mc, p, models, plans, shared, into, batch); err != nil {
		return nil, err
	}
	sh.buildPacks(params, shared, workers)
	if err := sh.buildEpilogue(plans, params, shared, gather, workers); err != nil {
		return nil, err
	}
	if err := sh.findGrads(plans[0]); err != nil {
		return nil, err
	}
	sh.buildReduce(workers)
	return sh, nil
}

// planShards builds the S shards' graphs and plans their steps.
func planShards(p *graph.Params, batch, S int) ([]*graph.Model, []splitPlan, error) {
	models := make([]*graph.Model, S)
	plans := make([]splitPlan, S)
	for i := range models {
		lo, hi := batch*i/S, batch*(i+1)/S
		var err error
		if models[i], err = graph.Build(p, hi-lo, graph.Options{Grad: true}); err != nil {
			return nil, nil, err
		}
		if plans[i], err = planSplit(models[i]); err != nil {
			return nil, nil, err
		}
	}
	if !plansAlike(plans) { // never seen: the graphs are built alike
		for i, m := range models {
			plans[i] = splitPlan{boundary: slices.Clone(m.Grads)}
		}
	}
	return models, plans, nil
}

// selectGathered keeps gathered only the products whose sum over the
// shards would cost much: large outputs from few rows per shard. The
// others the shards compute themselves, and the step sums them: that is
// faster than the whole batch's product on one core.
func selectGathered(models []*graph.Model, plans []splitPlan) {
	keep := make([]bool, len(plans[0].gathered))
	for j, n := range plans[0].gathered {
		mm, _ := graph.MatMulOf(n.Op())
		keep[j] = mm.M*mm.N >= gatherMinOut && mm.K < gatherMaxRows
	}
	for i, m := range models {
		var kept, ops []*G.Node
		for j, n := range plans[i].gathered {
			if !keep[j] {
				plans[i].boundary = append(plans[i].boundary, n)
				continue
			}
			kept = append(kept, n)
			for _, k := range children(m.Graph, n) {
				if !slices.Contains(ops, k) {
					ops = append(ops, k)
				}
			}
		}
		plans[i].gathered, plans[i].gatherOps = kept, ops
	}
}

// gatherBuffers makes one buffer over the whole batch for each operand of
// the gathered products, shard i writing (or, for the samples, reading)
// its rows: into[i] gives shard i's nodes their part. An operand that is
// another input (never seen) turns gathering off.
func gatherBuffers(mc *machine, models []*graph.Model, plans []splitPlan) (gather [][]float32, into []map[*G.Node][]float32) {
	gather = make([][]float32, len(plans[0].gatherOps))
	into = make([]map[*G.Node][]float32, len(plans))
	for i := range into {
		into[i] = map[*G.Node][]float32{}
	}
	for j, n0 := range plans[0].gatherOps {
		if n0 == models[0].X {
			gather[j] = mc.xs // its shards' rows, in order, by construction
			continue
		}
		if n0.Op() == nil {
			for i := range plans {
				plans[i].boundary = append(plans[i].boundary, plans[i].gathered...)
				plans[i].gathered, plans[i].gatherOps, into[i] = nil, nil, nil
			}
			return nil, into
		}
		size := 0
		for i := range plans {
			size += plans[i].gatherOps[j].Shape().TotalSize()
		}
		gather[j] = make([]float32, size)
		off := 0
		for i := range plans {
			n := plans[i].gatherOps[j]
			into[i][n] = gather[j][off : off+n.Shape().TotalSize()]
			off += n.Shape().TotalSize()
		}
	}
	return gather, into
}

// buildPrologue plans the VM of the parameter-only nodes over all workers
// and returns their buffers (shard 0's nodes).
func (sh *sharded) buildPrologue(m *graph.Model, plan splitPlan, params map[*G.Node][]float32, workers int) (map[*G.Node][]float32, error) {
	shared := map[*G.Node][]float32{}
	if len(plan.frontier) == 0 {
		return shared, nil
	}
	vm, err := newCPUVM(m.Graph, plan.frontier, params, workers)
	if err != nil {
		return nil, err
	}
	sh.prologue = vm
	for _, n := range plan.frontier {
		shared[n], _ = vm.value(n)
	}
	return shared, nil
}

// buildShards plans one single-worker VM per shard, over its rows of the
// inputs, the prologue's values and the gathered operands' buffers, and
// the tasks that run them, one per worker.
func (sh *sharded) buildShards(mc *machine, p *graph.Params, models []*graph.Model, plans []splitPlan, shared map[*G.Node][]float32, into []map[*G.Node][]float32, batch int) error {
	S, d := len(models), p.Spec.Arch[0]
	for i, m := range models {
		lo, hi := batch*i/S, batch*(i+1)/S
		bind := map[*G.Node][]float32{
			m.X: mc.xs[lo*d : hi*d], m.Mask: mc.masks[lo:hi], m.InvN: mc.invn,
		}
		for j, n := range m.Learnables {
			bind[n] = p.Tensors[j].Data().([]float32)
		}
		for c, n := range m.Noise {
			bind[n] = mc.noises[c][lo*d : hi*d]
		}
		for k, n := range plans[i].frontier {
			bind[n] = shared[plans[0].frontier[k]]
		}
		targets := G.Nodes{m.Loss, m.Recon, m.Penalty}
		if m.Hess != nil {
			targets = append(targets, m.Hess)
		}
		targets = append(targets, plans[i].boundary...)
		vm, err := newCPUVMInto(m.Graph, append(targets, plans[i].gatherOps...), bind, into[i], 1)
		if err != nil {
			return err
		}
		s := &shard{m: m, vm: vm, lo: lo, hi: hi}
		for _, n := range plans[i].boundary {
			b, _ := vm.value(n)
			s.sums = append(s.sums, b)
		}
		sh.shards = append(sh.shards, s)
		sh.run = append(sh.run, func() {
			mc.fill(sh.s, sh.idx, s.lo, s.hi)
			s.vm.run()
		})
	}
	return nil
}

// buildPacks makes every shard's products by the transpose of a parameter
// or a prologue value (a layer's weights on the right: δ·Wᵀ, or h·W₁ᵀ in
// a tied decoder) read it packed by caetrain's gemm, packed once per step
// for all shards, over the workers, after the prologue (kernels.PackedB):
// a BLAS call would transpose it again for each shard. Untransposed
// weights need no packing: the gemm reads their rows in place; nor do
// transposed ones by shards of at most 64 rows, which the gemm multiplies
// as Cᵀ = W·δᵀ (kernels.PackPays). Only where kernels.Sgemm is caetrain's
// own.
func (sh *sharded) buildPacks(params, shared map[*G.Node][]float32, workers int) {
	if kernels.Sgemm != "avx2" {
		return
	}
	operands := map[*float32]bool{}
	for _, m := range []map[*G.Node][]float32{params, shared} {
		for _, b := range m {
			if len(b) > 0 {
				operands[&b[0]] = true
			}
		}
	}
	type key struct {
		b  *float32
		tb bool
	}
	packs := map[key]*kernels.PackedB{}
	var order []*kernels.PackedB
	for _, s := range sh.shards {
		for i := range s.vm.prog {
			ins := &s.vm.prog[i]
			mm, ok := graph.MatMulOf(ins.node.Op())
			if !ok || !kernels.PackPays(mm.M, mm.N, mm.TA, mm.TB) || ins.tasks != nil || len(ins.in) != 2 {
				continue
			}
			b := ins.in[1]
			if len(b) != mm.K*mm.N || len(b) == 0 || !operands[&b[0]] {
				continue
			}
			k := key{&b[0], mm.TB}
			pb := packs[k]
			if pb == nil {
				pb = kernels.NewPackedB(b, mm.K, mm.N, mm.TB)
				packs[k] = pb
				order = append(order, pb)
			}
			m, ta := mm.M, mm.TA
			ins.run = func(out []float32, in [][]float32) { kernels.MatMulPacked(out, in[0], m, ta, pb) }
		}
	}
	for _, pb := range order {
		sh.packs = append(sh.packs, pb.PackTasks(workers)...)
	}
	sh.packed = len(order)
}

// buildEpilogue plans the VM that, after the sum, computes the gathered
// products over the whole batch and the linear tail, from shard 0's
// (summed) boundary values, the prologue's values and the parameters.
func (sh *sharded) buildEpilogue(plans []splitPlan, params, shared map[*G.Node][]float32, gather [][]float32, workers int) error {
	s0, plan := sh.shards[0], plans[0]
	if len(plan.epilogue) == 0 && len(plan.gathered) == 0 {
		return nil
	}
	vm := &cpuVM{buf: map[*G.Node][]float32{}, pool: sh.pool}
	for n, b := range params {
		vm.buf[n] = b
	}
	for n, b := range shared {
		vm.buf[n] = b
	}
	for k, n := range plan.boundary {
		vm.buf[n] = s0.sums[k]
	}
	// The epilogue's nodes that do not depend on a gathered product run
	// first ("pre"), so that a gathered product read only by a sum a + P
	// with a computed before it can be added into a's buffer (fused),
	// saving the sum's pass over a weight-sized array.
	isGathered := map[*G.Node]bool{}
	for _, n := range plan.gathered {
		isGathered[n] = true
	}
	users := map[*G.Node][]*G.Node{}
	afterGather := map[*G.Node]bool{}
	for _, n := range plan.epilogue {
		for _, k := range children(s0.m.Graph, n) {
			users[k] = append(users[k], n)
			afterGather[n] = afterGather[n] || isGathered[k] || afterGather[k]
		}
	}
	isGrad := map[*G.Node]bool{}
	for _, g := range s0.m.Grads {
		isGrad[g] = true
	}
	// sumWith returns the sum u = g + a that is g's only reader, and a;
	// ok is false when g (not a gradient itself) has no such reader.
	sumWith := func(g *G.Node) (u, a *G.Node, ok bool) {
		if len(users[g]) != 1 || isGrad[g] {
			return nil, nil, false
		}
		u = users[g][0]
		kids := children(s0.m.Graph, u)
		if len(kids) != 2 || !isSum(u) {
			return nil, nil, false
		}
		a = kids[0]
		if a == g {
			a = kids[1]
		}
		return u, a, a != g
	}
	fusedInto := map[*G.Node]*G.Node{} // gathered product → the sum it is added into
	for _, g := range plan.gathered {
		u, a, ok := sumWith(g)
		if !ok || isGathered[a] || afterGather[a] || isGrad[a] || len(users[a]) != 1 || !slices.Contains(plan.epilogue, a) {
			continue
		}
		fusedInto[g] = u
	}
	fusedSum := map[*G.Node]bool{}
	for _, u := range fusedInto {
		fusedSum[u] = true
	}
	// A further gathered product read only by a sum u = s + P, s itself a
	// fused sum read only by u (a tied weight's gradient: penalty +
	// encoder product + decoder product), is added into the same buffer:
	// root gives each fused sum the node whose buffer it accumulates in.
	root := map[*G.Node]*G.Node{}
	for g, u := range fusedInto {
		_, root[u], _ = sumWith(g)
	}
	for changed := true; changed; {
		changed = false
		for _, g := range plan.gathered {
			if _, done := fusedInto[g]; done {
				continue
			}
			u, s, ok := sumWith(g)
			if !ok || !fusedSum[s] || isGrad[s] || len(users[s]) != 1 {
				continue
			}
			fusedInto[g], fusedSum[u], root[u] = u, true, root[s]
			changed = true
		}
	}
	// A buffer the products are added into that starts as the one-layer
	// penalty's gradient 2·W·diag(g) (colsumsq.backward) is not written
	// first: the first product into it adds the term as its kernel stores
	// C's blocks (kernels.MatMulPlus), saving a pass that writes the
	// weight-sized term and the read of it back.
	plusRoot := map[*G.Node]bool{}
	for g, u := range fusedInto {
		r := root[u]
		kids := children(s0.m.Graph, r)
		mm, _ := graph.MatMulOf(g.Op())
		if opName(r) == "colsumsq.backward" && len(kids) == 2 && kids[0].Shape().TotalSize() == mm.M*mm.N && kids[1].Shape().TotalSize() == mm.N {
			plusRoot[r] = true
		}
	}
	for _, n := range plan.epilogue {
		if afterGather[n] {
			continue
		}
		if plusRoot[n] {
			vm.buf[n] = make([]float32, n.Shape().TotalSize())
			continue
		}
		if err := vm.plan(n, children(s0.m.Graph, n), nil); err != nil {
			return err
		}
	}

	// The gathered products are whole single-threaded products, as many
	// at once as there are workers (split in halves, a product runs
	// slower), each worker taking the largest left; products added into
	// the same buffer run in bands of its rows instead, one per worker,
	// each band taking every product in turn.
	var jobs []func()
	var flops []int
	type accJob struct {
		a, b []float32
		mm   graph.MatMulShape
	}
	groups := map[*G.Node][]accJob{} // root → the products added into its buffer
	var roots []*G.Node
	for j, n := range plan.gathered {
		mm, _ := graph.MatMulOf(n.Op())
		mm.K = 0
		for i := range plans {
			k, _ := graph.MatMulOf(plans[i].gathered[j].Op())
			mm.K += k.K
		}
		kids := children(s0.m.Graph, n)
		a, b := gather[slices.Index(plan.gatherOps, kids[0])], gather[slices.Index(plan.gatherOps, kids[1])]
		if u, ok := fusedInto[n]; ok {
			r := root[u]
			vm.buf[u] = vm.buf[r] // computed before the products; the sums are its only readers
			if groups[r] == nil {
				roots = append(roots, r)
			}
			groups[r] = append(groups[r], accJob{a, b, mm})
			continue
		}
		out := make([]float32, mm.M*mm.N)
		vm.buf[n] = out
		jobs = append(jobs, func() { kernels.MatMul(out, a, b, mm.M, mm.N, mm.K, mm.TA, mm.TB) })
		flops = append(flops, mm.M*mm.N*mm.K)
	}
	for _, r := range roots {
		out, g := vm.buf[r], groups[r]
		var penW, penG []float32 // the penalty term's W and g, when r is one
		isPlus := plusRoot[r]
		if isPlus {
			kids := children(s0.m.Graph, r)
			if penW, penG = vm.buf[kids[0]], vm.buf[kids[1]]; penW == nil || penG == nil {
				return fmt.Errorf("engine: the epilogue's %v reads values it does not have", r)
			}
			sh.plus++
		}
		// first is the first product into the buffer, over rows [i0, i1):
		// with the penalty's term 2·W·diag(g) (s2, the job's own 2·g) when
		// r is one, else added to what r computed.
		first := func(j accJob, i0, i1 int, s2 []float32) {
			if !isPlus {
				kernels.MatMulAccTile(out, j.a, j.b, j.mm.M, j.mm.N, j.mm.K, j.mm.TA, j.mm.TB, i0, i1, 0, j.mm.N)
				return
			}
			kernels.Scale(s2, penG, 2)
			kernels.MatMulPlusTile(out, j.a, j.b, j.mm.M, j.mm.N, j.mm.K, j.mm.TA, j.mm.TB, i0, i1, 0, j.mm.N, penW, s2)
		}
		if len(g) == 1 {
			j, s2 := g[0], make([]float32, g[0].mm.N)
			jobs = append(jobs, func() { first(j, 0, j.mm.M, s2) })
			flops = append(flops, j.mm.M*j.mm.N*j.mm.K)
			continue
		}
		m, cost := g[0].mm.M, 0
		for _, j := range g {
			cost += j.mm.M * j.mm.N * j.mm.K
		}
		for w := 0; w < workers; w++ {
			i0, i1 := m*w/workers, m*(w+1)/workers
			s2 := make([]float32, g[0].mm.N)
			jobs = append(jobs, func() {
				first(g[0], i0, i1, s2)
				for _, j := range g[1:] {
					kernels.MatMulAccTile(out, j.a, j.b, j.mm.M, j.mm.N, j.mm.K, j.mm.TA, j.mm.TB, i0, i1, 0, j.mm.N)
				}
			})
			flops = append(flops, cost/workers)
		}
	}
	sh.gathered, sh.fused = len(jobs), len(fusedInto)
	if len(jobs) > 0 {
		vm.prog = append(vm.prog, instr{node: plan.gathered[0], tasks: schedule(jobs, flops, workers)})
	}
	for _, n := range plan.epilogue {
		if afterGather[n] && !fusedSum[n] {
			if err := vm.plan(n, children(s0.m.Graph, n), nil); err != nil {
				return err
			}
		}
	}
	sh.epilogue = vm
	return nil
}

// findGrads points grads at the buffers that hold the summed gradients:
// the epilogue's, or shard 0's summed boundary values.
func (sh *sharded) findGrads(plan splitPlan) error {
	s0 := sh.shards[0]
	for _, g := range s0.m.Grads {
		if sh.epilogue != nil {
			if b, ok := sh.epilogue.value(g); ok {
				sh.grads = append(sh.grads, b)
				continue
			}
		}
		k := slices.Index(plan.boundary, g)
		if k < 0 {
			return fmt.Errorf("engine: gradient %v is neither summed nor computed after the sum", g)
		}
		sh.grads = append(sh.grads, s0.sums[k])
	}
	return nil
}

// buildReduce makes the sum's tasks, one per worker: a slice of every
// boundary value, the other shards' added into shard 0's.
func (sh *sharded) buildReduce(workers int) {
	s0 := sh.shards[0]
	for w := 0; w < workers; w++ {
		sh.reduce = append(sh.reduce, func() {
			for k, dst := range s0.sums {
				lo, hi := len(dst)*w/workers, len(dst)*(w+1)/workers
				dst := dst[lo:hi]
				for _, o := range sh.shards[1:] {
					kernels.Add(dst, dst, o.sums[k][lo:hi])
				}
			}
		})
	}
}

// step runs the prologue, every shard on its rows of idx of s, the sum of
// their boundary values and the epilogue.
func (sh *sharded) step(s Samples, idx []int) {
	sh.s, sh.idx = s, idx
	if sh.prologue != nil {
		sh.prologue.run()
	}
	if sh.packs != nil {
		sh.pool.run(sh.packs)
	}
	sh.pool.run(sh.run)
	sh.pool.run(sh.reduce)
	if sh.epilogue != nil {
		sh.epilogue.run()
	}
	sh.s, sh.idx = Samples{}, nil
}

// scalar is the sum over the shards of the scalar node that plays n's part
// in the full-batch model full (the loss and its terms are sums over rows,
// already divided by the whole batch's n).
func (sh *sharded) scalar(full *graph.Model, n *G.Node) float64 {
	pick := func(m *graph.Model) *G.Node {
		switch n {
		case full.Loss:
			return m.Loss
		case full.Recon:
			return m.Recon
		case full.Penalty:
			return m.Penalty
		case full.Hess:
			return m.Hess
		}
		panic(fmt.Sprintf("engine: node %v is not a scalar the sharded VM sums", n))
	}
	var sum float64
	for _, s := range sh.shards {
		v, _ := s.vm.value(pick(s.m))
		sum += float64(v[0])
	}
	return sum
}

func (sh *sharded) close() {
	if sh.prologue != nil {
		sh.prologue.close()
	}
	for _, s := range sh.shards {
		s.vm.close()
	}
	sh.pool.close()
}

// splitPlan divides one shard's training graph into the three parts of a
// step. Each list is in dependency order.
type splitPlan struct {
	// frontier: the nodes that depend on the parameters alone and are read
	// by nodes that depend on the batch: computed by the prologue.
	frontier []*G.Node
	// boundary: the values the shards compute and the step sums: the
	// epilogue's operands that depend on the batch, and the gradients the
	// epilogue does not compute.
	boundary []*G.Node
	// epilogue: the nodes that depend on the batch only through a linear
	// map, with parameter-only coefficients, of the boundary values, and
	// feed only the gradients.
	epilogue []*G.Node
	// gathered: products Aᵀ·B summed over the batch's rows (a weight's
	// gradient, Xᵀ·δ) that feed only the gradients: the epilogue computes
	// them once over the whole batch from operands the shards write into
	// their rows of one buffer each (gatherOps), instead of each shard
	// computing its own and the step summing them.
	gathered, gatherOps []*G.Node
}

// planSplit plans a training graph's step.
func planSplit(m *graph.Model) (splitPlan, error) {
	var plan splitPlan
	targets := append(G.Nodes{m.Loss, m.Recon, m.Penalty}, m.Grads...)
	if m.Hess != nil {
		targets = append(targets, m.Hess)
	}
	order, err := dependencyOrder(m.Graph, targets)
	if err != nil {
		return plan, err
	}
	learnable, grad := map[*G.Node]bool{}, map[*G.Node]bool{}
	for _, n := range m.Learnables {
		learnable[n] = true
	}
	for _, n := range m.Grads {
		grad[n] = true
	}
	kids := map[*G.Node][]*G.Node{}
	users := map[*G.Node][]*G.Node{}
	paramOnly := map[*G.Node]bool{}
	for _, n := range order {
		kids[n] = children(m.Graph, n)
		for _, k := range kids[n] {
			users[k] = append(users[k], n)
		}
		switch {
		case learnable[n]:
			paramOnly[n] = true
		case n.Op() == nil: // an input: samples, mask, 1/n, noise
		case n.Op().Arity() == 0: // a constant
			paramOnly[n] = true
		default:
			all := true
			for _, k := range kids[n] {
				all = all && paramOnly[k]
			}
			paramOnly[n] = all
		}
	}
	computed := func(n *G.Node) bool { return n.Op() != nil && n.Op().Arity() > 0 && !learnable[n] }

	// The epilogue, from the gradients down: a node joins when its op is
	// linear in its batch-dependent operands and everything that reads it
	// is a gradient output or already in the epilogue.
	epi := map[*G.Node]bool{}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if paramOnly[n] || !computed(n) || !linearInBatch(n, kids[n], paramOnly) {
			continue
		}
		ok := grad[n] || len(users[n]) > 0
		for _, u := range users[n] {
			ok = ok && epi[u]
		}
		if n == m.Loss || n == m.Recon || n == m.Penalty || n == m.Hess {
			ok = false
		}
		epi[n] = ok
	}
	gathered := map[*G.Node]bool{}
	for _, n := range order {
		if epi[n] || paramOnly[n] || !computed(n) {
			continue
		}
		mm, ok := graph.MatMulOf(n.Op())
		if !ok || !mm.TA || mm.TB || len(kids[n]) != 2 || paramOnly[kids[n][0]] || paramOnly[kids[n][1]] {
			continue
		}
		ok = grad[n] || len(users[n]) > 0
		for _, u := range users[n] {
			ok = ok && epi[u]
		}
		gathered[n] = ok
	}
	inBoundary, inOps := map[*G.Node]bool{}, map[*G.Node]bool{}
	for _, n := range order {
		switch {
		case gathered[n]:
			plan.gathered = append(plan.gathered, n)
			for _, k := range kids[n] {
				if !inOps[k] {
					inOps[k] = true
					plan.gatherOps = append(plan.gatherOps, k)
				}
			}
		case epi[n]:
			plan.epilogue = append(plan.epilogue, n)
			for _, k := range kids[n] {
				if !epi[k] && !paramOnly[k] && !gathered[k] && !inBoundary[k] {
					inBoundary[k] = true
					plan.boundary = append(plan.boundary, k)
				}
			}
		case grad[n] && !inBoundary[n]:
			inBoundary[n] = true
			plan.boundary = append(plan.boundary, n)
		}
	}
	inFront := map[*G.Node]bool{}
	for _, n := range order {
		if paramOnly[n] {
			continue
		}
		for _, k := range kids[n] {
			if paramOnly[k] && computed(k) && !inFront[k] {
				inFront[k] = true
				plan.frontier = append(plan.frontier, k)
			}
		}
	}
	return plan, nil
}

// linearInBatch reports whether node n is a linear function of its
// operands that depend on the batch, the others (parameter-only) fixed:
// then its sum over shards is n evaluated on the shards' summed operands.
func linearInBatch(n *G.Node, kids []*G.Node, paramOnly map[*G.Node]bool) bool {
	batchKids := 0
	for _, k := range kids {
		if !paramOnly[k] {
			batchKids++
		}
	}
	info, isKernel := graph.Info(n.Op())
	if !isKernel { // gorgonia's gradient sum a + b: linear when both vary
		return isGradSum(n.Op()) && len(kids) == 2 && batchKids == 2
	}
	switch info.Name {
	case "add":
		return batchKids == 2
	case "scale":
		return batchKids == 1
	case "matmul":
		return len(kids) == 2 && batchKids == 1
	case "colsumsq.backward": // 2·W_ij·g_j, linear in g
		return len(kids) == 2 && paramOnly[kids[0]] && !paramOnly[kids[1]]
	}
	return false
}

// opName is the name of n's op: graph's kernel name, else its String (the
// kernel ops' Strings hold their sizes, which may hold the shard's rows).
func opName(n *G.Node) string {
	if info, ok := graph.Info(n.Op()); ok {
		return info.Name
	}
	return n.Op().String()
}

// opNameOrInput is opName, or the name of an input node.
func opNameOrInput(n *G.Node) string {
	if n.Op() == nil {
		return "input " + n.Name()
	}
	return opName(n)
}

// plansAlike reports whether every shard's plan has the same nodes, by op
// and shape, in the same places as shard 0's.
func plansAlike(plans []splitPlan) bool {
	same := func(a, b []*G.Node) bool {
		if len(a) != len(b) {
			return false
		}
		for k := range a {
			if opName(a[k]) != opName(b[k]) || !a[k].Shape().Eq(b[k].Shape()) {
				return false
			}
		}
		return true
	}
	for _, p := range plans[1:] {
		if !same(p.frontier, plans[0].frontier) || !same(p.boundary, plans[0].boundary) || !same(p.epilogue, plans[0].epilogue) ||
			!same(p.gathered, plans[0].gathered) || len(p.gatherOps) != len(plans[0].gatherOps) {
			return false
		}
		for k, n := range p.gatherOps { // their rows are the shard's
			if opNameOrInput(n) != opNameOrInput(plans[0].gatherOps[k]) {
				return false
			}
		}
	}
	return true
}

// schedule deals jobs of the given costs out to at most workers tasks,
// each job to the least loaded task, the costliest first.
func schedule(jobs []func(), cost []int, workers int) []func() {
	order := make([]int, len(jobs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cost[b] - cost[a] })
	n := min(workers, len(jobs))
	lists := make([][]func(), n)
	load := make([]int, n)
	for _, j := range order {
		w := slices.Index(load, slices.Min(load))
		lists[w] = append(lists[w], jobs[j])
		load[w] += cost[j]
	}
	tasks := make([]func(), n)
	for w, l := range lists {
		tasks[w] = func() {
			for _, f := range l {
				f()
			}
		}
	}
	return tasks
}

// isSum reports whether n adds its two operands: gorgonia's gradient sum
// or graph's add.
func isSum(n *G.Node) bool {
	if info, ok := graph.Info(n.Op()); ok {
		return info.Name == "add"
	}
	return isGradSum(n.Op())
}
