// SPDX-License-Identifier: Apache-2.0

package graph

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// jacFactor is the per-sample factor M of the Jacobian J_h(x) = M W_1ᵀ:
// M = D_L W_Lᵀ ⋯ W_2ᵀ D_1, shape [batch, nL, n1]. For one layer M = D_1 is
// diagonal and only its diagonal d_1 [batch, n1] is kept (diag true).
type jacFactor struct {
	m    *G.Node
	diag bool
}

// factor builds M from the layers' activation derivatives, from the code
// backwards: T = D_L W_Lᵀ D_{L−1}, then T ← (T W_kᵀ) D_{k−1} down to the
// first hidden layer.
func factor(enc []layer, w []*G.Node, batch int, arch []int) jacFactor {
	L := len(enc)
	if L == 1 {
		return jacFactor{m: enc[0].d, diag: true}
	}
	nL := arch[L]
	// T[b,i,j] = d_L[b,i] · W_L[j,i] · d_{L−1}[b,j].
	wt := must(G.Reshape(must(G.Transpose(w[L-1])), tensor.Shape{1, nL, arch[L-1]}))
	dL := must(G.Reshape(enc[L-1].d, tensor.Shape{batch, nL, 1}))
	t := must(G.BroadcastHadamardProd(dL, wt, []byte{2}, []byte{0}))
	t = must(G.BroadcastHadamardProd(t, must(G.Reshape(enc[L-2].d, tensor.Shape{batch, 1, arch[L-1]})), nil, []byte{1}))
	for k := L - 2; k >= 1; k-- {
		t2 := must(G.Reshape(t, tensor.Shape{batch * nL, arch[k+1]}))
		t2 = must(G.Mul(t2, must(G.Transpose(w[k])))) // [B·nL, n_k]
		t = must(G.Reshape(t2, tensor.Shape{batch, nL, arch[k]}))
		t = must(G.BroadcastHadamardProd(t, must(G.Reshape(enc[k-1].d, tensor.Shape{batch, 1, arch[k]})), nil, []byte{1}))
	}
	return jacFactor{m: t}
}

// gram holds what the quadratic form needs of the first layer's weight
// W_1 [n0, n1]: its column norms Σ_i W_ij² [n1] for a diagonal factor, or
// G = W_1ᵀ W_1 [n1, n1].
type gram struct {
	colNorm, g *G.Node
}

func newGram(w0 *G.Node, diag bool) gram {
	if diag {
		return gram{colNorm: must(G.Sum(must(G.Square(w0)), 0))}
	}
	return gram{g: must(G.Mul(must(G.Transpose(w0)), w0))}
}

// fro2 is the per-sample ‖M W_1ᵀ‖²_F = tr(M G Mᵀ), shape [batch].
func fro2(f jacFactor, gr gram, batch int, arch []int) *G.Node {
	if f.diag {
		return must(G.Mul(must(G.Square(f.m)), gr.colNorm)) // Σ_j d_j² Σ_i W_ij²
	}
	return quadForm(f.m, gr.g)
}

// penalty builds the per-sample squared Frobenius norm of the Jacobian of
// the code with respect to the input, ‖J_h(x)‖²_F, shape [batch].
//
// One layer (Rifai et al., 2011, for any activation):
//
//	‖J‖²_F = Σ_j φ′(z_j)² Σ_i W_ij²
//
// L ≥ 2 layers: ‖J‖²_F = tr(M G Mᵀ) with M the factor above and
// G = W_1ᵀ W_1 ([n1, n1]).
func penalty(f jacFactor, gr gram, batch int, arch []int) *G.Node {
	return fro2(f, gr, batch, arch)
}

// hessian builds the CAE+H term's per-sample estimate (Rifai et al., ECML
// 2011): the mean over the noisy copies x̃_c = x + ε_c of
// ‖J(x) − J(x̃_c)‖²_F. With J = M W_1ᵀ for both, the difference is
// (M − M̃_c) W_1ᵀ and its norm is the same quadratic form.
func hessian(f jacFactor, noisy []jacFactor, gr gram, batch int, arch []int) *G.Node {
	var sum *G.Node
	for _, fc := range noisy {
		d := jacFactor{m: must(G.Sub(f.m, fc.m)), diag: f.diag}
		q := fro2(d, gr, batch, arch)
		if sum == nil {
			sum = q
		} else {
			sum = must(G.Add(sum, q))
		}
	}
	if len(noisy) == 1 {
		return sum
	}
	return must(G.HadamardDiv(sum, scalarLike(sum, float64(len(noisy)))))
}

func scalarLike(n *G.Node, v float64) *G.Node {
	if n.Dtype() == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}
