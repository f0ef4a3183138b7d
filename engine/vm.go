// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
	G "gorgonia.org/gorgonia"
)

// cpuVM runs a model graph on the CPU without Gorgonia's TapeMachine: it
// walks the nodes the requested outputs depend on, children first, and
// calls each op's float32 kernel (graph.Kernel32) into a buffer of its own,
// allocated once when the VM is built. A run allocates nothing and never
// aliases one node's value with another's, so every node's value can be
// read after a run.
//
// The graph may hold only graph's kernel ops, inputs, constants and the
// additions gorgonia.Grad inserts to sum gradients; anything else is an
// error when the VM is built, never a silent fallback.
type cpuVM struct {
	prog []instr
	buf  map[*G.Node][]float32
	pool *pool
	// into gives some nodes the buffer they write (instead of one of
	// their own): the data-parallel shards write values that are read
	// over the whole batch into their rows of one buffer.
	into map[*G.Node][]float32
}

// instr is one node's computation: its kernel on whole buffers, or tasks
// (row blocks or matrix tiles) that the pool runs in parallel.
type instr struct {
	node  *G.Node
	run   func(out []float32, in [][]float32)
	out   []float32
	in    [][]float32
	tasks []func()
}

// parallelMin is the least number of values (read or written) worth
// splitting an op over workers for; below it, handing out the work costs more than it
// saves.
const parallelMin = 1 << 14

// newCPUVM plans the computation of targets. bind gives the backing arrays
// of the graph's inputs (parameters, samples, mask, 1/n, noise): the VM
// reads them in place, so writing into them sets the next run's inputs.
func newCPUVM(g *G.ExprGraph, targets G.Nodes, bind map[*G.Node][]float32, workers int) (*cpuVM, error) {
	return newCPUVMInto(g, targets, bind, nil, workers)
}

// newCPUVMInto is newCPUVM with the nodes of into writing the buffers it
// gives them.
func newCPUVMInto(g *G.ExprGraph, targets G.Nodes, bind, into map[*G.Node][]float32, workers int) (*cpuVM, error) {
	vm := &cpuVM{buf: map[*G.Node][]float32{}, pool: newPool(workers), into: into}
	order, err := dependencyOrderUntil(g, targets, func(n *G.Node) bool { _, ok := bind[n]; return ok })
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		if err := vm.plan(n, children(g, n), bind); err != nil {
			return nil, err
		}
	}
	return vm, nil
}

// dependencyOrder lists the nodes the targets depend on, each after its
// operands, in a fixed order (depth first, operands left to right).
func dependencyOrder(g *G.ExprGraph, targets G.Nodes) ([]*G.Node, error) {
	return dependencyOrderUntil(g, targets, func(*G.Node) bool { return false })
}

// dependencyOrderUntil is dependencyOrder treating the nodes for which
// given is true as given values: they are listed, what they depend on is
// not (a VM binds them to buffers another computes).
func dependencyOrderUntil(g *G.ExprGraph, targets G.Nodes, given func(*G.Node) bool) ([]*G.Node, error) {
	var order []*G.Node
	state := map[*G.Node]int{} // 1 visiting, 2 done
	var visit func(n *G.Node) error
	visit = func(n *G.Node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("engine: the graph has a cycle through %v", n)
		case 2:
			return nil
		}
		state[n] = 1
		if !given(n) {
			for _, k := range children(g, n) {
				if err := visit(k); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, t := range targets {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// children returns n's operands in order.
func children(g *G.ExprGraph, n *G.Node) []*G.Node {
	var out []*G.Node
	it := g.From(n.ID())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

func (vm *cpuVM) plan(n *G.Node, kids []*G.Node, bind map[*G.Node][]float32) error {
	if n.Dtype() != G.Float32 {
		return fmt.Errorf("engine: node %v is %v; the CPU VM runs float32", n, n.Dtype())
	}
	size := max(n.Shape().TotalSize(), 1)
	if b, ok := bind[n]; ok {
		if len(b) != size {
			return fmt.Errorf("engine: input %s bound to %d values, want %d", n.Name(), len(b), size)
		}
		vm.buf[n] = b
		return nil
	}
	op := n.Op()
	if op == nil {
		return fmt.Errorf("engine: input %s is not bound", n.Name())
	}
	out := vm.into[n]
	if out == nil {
		out = make([]float32, size)
	} else if len(out) != size {
		return fmt.Errorf("engine: node %v given %d values to write, want %d", n, len(out), size)
	}
	vm.buf[n] = out
	if op.Arity() == 0 { // a constant, such as the 1 that seeds the gradients
		switch v := n.Value().Data().(type) {
		case float32:
			out[0] = v
		case []float32:
			copy(out, v)
		default:
			return fmt.Errorf("engine: constant %v holds %T", n, v)
		}
		return nil
	}
	in := make([][]float32, len(kids))
	for i, k := range kids {
		in[i] = vm.buf[k]
	}
	run, ok := graph.Kernel32(op)
	if !ok {
		// gorgonia.Grad sums a node's gradients with its own element-wise
		// addition.
		if !isGradSum(op) || len(kids) != 2 || !kids[0].Shape().Eq(n.Shape()) || !kids[1].Shape().Eq(n.Shape()) {
			return fmt.Errorf("engine: the CPU VM has no kernel for %v (op %v)", n, op)
		}
		run = addKernel
	}
	ins := instr{node: n, run: run, out: out, in: in}
	mm, isMM := graph.MatMulOf(op)
	switch {
	case isMM && mm.TA && !mm.TB && vm.pool.workers > 1 && size < parallelMin && mm.K*(mm.M+mm.N) >= parallelMin:
		// A small product summed over many rows (a weight's gradient,
		// Xᵀ·dZ over the batch): each worker takes a block of the rows of
		// both operands, and the partial products are summed.
		m, n := mm.M, mm.N
		ins.tasks = reduceTasks(mm.K, []int{m, n}, func(o []float32, in [][]float32, lo, hi int) {
			kernels.MatMul(o, in[0], in[1], m, n, hi-lo, true, false)
		}, out, in, vm.pool.workers)
	case isMM && (!kernels.SerialProducts[float32]() || vm.pool.workers > 1 && size >= parallelMin):
		// gonum's gemm starts goroutines (and allocates) for big
		// products: always hand it tiles small enough to run serially.
		ins.tasks = matmulTasks(mm, out, in, vm.pool.workers)
	case vm.pool.workers > 1:
		if rows, inW, outW, r, ok := graph.RowKernel32(op); ok && rowWork(rows, inW, outW) >= parallelMin {
			ins.tasks = rowTasks(rows, inW, outW, r, out, in, vm.pool.workers)
		} else if rows, inW, r, ok := graph.ReduceKernel32(op); ok && rowWork(rows, inW, 0) >= parallelMin {
			ins.tasks = reduceTasks(rows, inW, r, out, in, vm.pool.workers)
		} else if _, isKernel := graph.Kernel32(op); !isKernel && size >= parallelMin { // gorgonia's gradient sum
			ins.tasks = rowTasks(size, []int{1, 1}, 1, addRows, out, in, vm.pool.workers)
		}
	}
	vm.prog = append(vm.prog, ins)
	return nil
}

// rowWork is the number of values a row kernel reads or writes: what
// decides whether splitting it pays (a per-sample loss writes one value
// per row but reads whole rows).
func rowWork(rows int, inW []int, outW int) int {
	w := outW
	for _, iw := range inW {
		w = max(w, iw)
	}
	return rows * w
}

func addRows(out []float32, in [][]float32, _, _ int) { addKernel(out, in) }

// rowTasks splits a row kernel into one block of rows per worker.
func rowTasks(rows int, inW []int, outW int, r func([]float32, [][]float32, int, int), out []float32, in [][]float32, workers int) []func() {
	var tasks []func()
	for w := 0; w < workers; w++ {
		lo, hi := rows*w/workers, rows*(w+1)/workers
		if lo == hi {
			continue
		}
		sin := make([][]float32, len(in))
		for i, b := range in {
			if inW[i] == 0 {
				sin[i] = b
			} else {
				sin[i] = b[lo*inW[i] : hi*inW[i]]
			}
		}
		sout := out[lo*outW : hi*outW]
		tasks = append(tasks, func() { r(sout, sin, lo, hi) })
	}
	return tasks
}

// reduceTasks splits a reduction over rows into one block of rows per
// worker, each computing a partial output: the first block's into out,
// the others' into buffers of their own. The task that finishes last adds
// the others' partial outputs into out, so the instruction is done when
// its tasks are.
func reduceTasks(rows int, inW []int, r func([]float32, [][]float32, int, int), out []float32, in [][]float32, workers int) []func() {
	blocks := min(workers, rows)
	if blocks < 1 {
		blocks = 1
	}
	partial := make([][]float32, blocks)
	partial[0] = out
	for w := 1; w < blocks; w++ {
		partial[w] = make([]float32, len(out))
	}
	pending := new(atomic.Int32)
	pending.Store(int32(blocks))
	var tasks []func()
	for w := 0; w < blocks; w++ {
		lo, hi := rows*w/blocks, rows*(w+1)/blocks
		sin := make([][]float32, len(in))
		for i, b := range in {
			if inW[i] == 0 {
				sin[i] = b
			} else {
				sin[i] = b[lo*inW[i] : hi*inW[i]]
			}
		}
		p := partial[w]
		tasks = append(tasks, func() {
			r(p, sin, lo, hi)
			if pending.Add(-1) != 0 {
				return
			}
			pending.Store(int32(blocks)) // for the next run, which starts after this one returns
			for _, q := range partial[1:] {
				kernels.Add(out, out, q)
			}
		})
	}
	return tasks
}

// matmulTasks splits a matrix product into tiles of the output. With
// OpenBLAS (run single-threaded: the pool is the parallelism) one band of
// rows or columns per worker; with gonum's BLAS, tiles small enough
// (≤ 64×128) that each call runs serially and allocates nothing.
func matmulTasks(mm graph.MatMulShape, out []float32, in [][]float32, workers int) []func() {
	a, b := in[0], in[1]
	var tasks []func()
	tile := func(i0, i1, j0, j1 int) {
		tasks = append(tasks, func() {
			kernels.MatMulTile(out, a, b, mm.M, mm.N, mm.K, mm.TA, mm.TB, i0, i1, j0, j1)
		})
	}
	if kernels.SerialProducts[float32]() {
		if mm.M >= mm.N {
			for w := 0; w < workers; w++ {
				tile(mm.M*w/workers, mm.M*(w+1)/workers, 0, mm.N)
			}
		} else {
			for w := 0; w < workers; w++ {
				tile(0, mm.M, mm.N*w/workers, mm.N*(w+1)/workers)
			}
		}
		return tasks
	}
	tm, tn := kernels.SerialTileM, kernels.SerialTileN
	for i0 := 0; i0 < mm.M; i0 += tm {
		for j0 := 0; j0 < mm.N; j0 += tn {
			tile(i0, min(i0+tm, mm.M), j0, min(j0+tn, mm.N))
		}
	}
	return tasks
}

func addKernel(out []float32, in [][]float32) { kernels.Add(out, in[0], in[1]) }

// isGradSum reports whether op is the element-wise addition gorgonia.Grad
// inserts to sum a node's gradients (the one Gorgonia op a graph of
// caetrain's kernel ops holds), recognised by its String.
func isGradSum(op G.Op) bool {
	f := strings.Fields(op.String())
	return len(f) > 0 && f[0] == "+"
}

// run executes the program once.
func (vm *cpuVM) run() {
	for i := range vm.prog {
		ins := &vm.prog[i]
		if ins.tasks != nil {
			vm.pool.run(ins.tasks)
			continue
		}
		ins.run(ins.out, ins.in)
	}
}

// close stops the VM's workers.
func (vm *cpuVM) close() { vm.pool.close() }

// value is the buffer holding n's value.
func (vm *cpuVM) value(n *G.Node) ([]float32, bool) {
	b, ok := vm.buf[n]
	return b, ok
}
