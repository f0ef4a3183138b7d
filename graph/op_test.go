// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
)

// TestGraphUsesOnlyTheOpSet: every node of every model graph (forward and
// gradient) is an input, a constant, one of graph's kernel ops (with an
// OpInfo a VM can dispatch on), gorgonia.Grad's element-wise gradient sum,
// or a Read statement. The VMs rely on this: they refuse anything else.
func TestGraphUsesOnlyTheOpSet(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range append(testSpecs(), hessSpecs()...) {
		p := randParams(t, s, rand.New(rand.NewPCG(1, 1)))
		m, err := Build(p, 3, Options{Grad: true, Outputs: true})
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := G.Sort(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			op := n.Op()
			switch {
			case op == nil, op.Arity() == 0:
				continue // input or constant
			case strings.HasPrefix(op.String(), "+"), op.String() == "print":
				continue
			}
			info, ok := Info(op)
			if !ok {
				t.Errorf("%s: node %v has op %v, outside the op set", specName(s), n, op)
				continue
			}
			if len(info.Dims) == 0 {
				t.Errorf("%s: op %s has no sizes", specName(s), info.Name)
			}
			seen[info.Name] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("ops used: %v", names)
}
