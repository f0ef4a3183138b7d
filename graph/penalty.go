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
	t := outerScale(enc[L-1].d, w[L-1], enc[L-2].d) // [B, nL, n_{L−1}]
	for k := L - 2; k >= 1; k-- {
		t = matmul(t, w[k], false, true, tensor.Shape{batch, nL, arch[k]}) // T W_kᵀ
		t = scaleCols(t, enc[k-1].d)
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
		return gram{colNorm: colSumSq(w0)}
	}
	n1 := w0.Shape()[1]
	return gram{g: matmul(w0, w0, true, false, tensor.Shape{n1, n1})}
}

// fro2 is the per-sample squared Frobenius norm of the Jacobian that the
// factor describes, ‖M W_1ᵀ‖²_F, shape [batch]; for the model's own factor
// it is the contractive penalty ‖J_h(x)‖²_F.
//
// One layer (Rifai et al., 2011, for any activation):
//
//	‖J‖²_F = Σ_j φ′(z_j)² Σ_i W_ij²
//
// L ≥ 2 layers: ‖J‖²_F = tr(M G Mᵀ) with G = W_1ᵀ W_1 ([n1, n1]).
func fro2(f jacFactor, gr gram) *G.Node {
	if f.diag {
		return diagPen(f.m, gr.colNorm) // Σ_j d_j² Σ_i W_ij²
	}
	return quadForm(f.m, gr.g)
}

// hessian builds the CAE+H term's per-sample estimate (Rifai et al., ECML
// 2011): the mean over the noisy copies x̃_c = x + ε_c of
// ‖J(x) − J(x̃_c)‖²_F. With J = M W_1ᵀ for both, the difference is
// (M − M̃_c) W_1ᵀ and its norm is the same quadratic form.
func hessian(f jacFactor, noisy []jacFactor, gr gram) *G.Node {
	var sum *G.Node
	for _, fc := range noisy {
		q := fro2(jacFactor{m: sub(f.m, fc.m), diag: f.diag}, gr)
		if sum == nil {
			sum = q
		} else {
			sum = add(sum, q)
		}
	}
	if len(noisy) == 1 {
		return sum
	}
	return scale(sum, 1/float64(len(noisy)))
}
