// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"strings"

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
}

type instr struct {
	node *G.Node
	run  func(out []float32, in [][]float32)
	out  []float32
	in   [][]float32
}

// newCPUVM plans the computation of targets. bind gives the backing arrays
// of the graph's inputs (parameters, samples, mask, 1/n, noise): the VM
// reads them in place, so writing into them sets the next run's inputs.
func newCPUVM(g *G.ExprGraph, targets G.Nodes, bind map[*G.Node][]float32) (*cpuVM, error) {
	vm := &cpuVM{buf: map[*G.Node][]float32{}}
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
		kids := children(g, n)
		for _, k := range kids {
			if err := visit(k); err != nil {
				return err
			}
		}
		state[n] = 2
		return vm.plan(n, kids, bind)
	}
	for _, t := range targets {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return vm, nil
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
	out := make([]float32, size)
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
		if f := strings.Fields(op.String()); len(f) == 0 || f[0] != "+" || len(kids) != 2 || !kids[0].Shape().Eq(n.Shape()) || !kids[1].Shape().Eq(n.Shape()) {
			return fmt.Errorf("engine: the CPU VM has no kernel for %v (op %v)", n, op)
		}
		run = addKernel
	}
	vm.prog = append(vm.prog, instr{node: n, run: run, out: out, in: in})
	return nil
}

func addKernel(out []float32, in [][]float32) { kernels.Add(out, in[0], in[1]) }

// run executes the program once.
func (vm *cpuVM) run() {
	for i := range vm.prog {
		ins := &vm.prog[i]
		ins.run(ins.out, ins.in)
	}
}

// value is the buffer holding n's value.
func (vm *cpuVM) value(n *G.Node) ([]float32, bool) {
	b, ok := vm.buf[n]
	return b, ok
}
