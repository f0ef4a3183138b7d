// SPDX-License-Identifier: Apache-2.0

package graph

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// penalty builds the per-sample squared Frobenius norm of the Jacobian of
// the code with respect to the input, ‖J_h(x)‖²_F, shape [batch].
//
// One layer (Rifai et al., 2011, generalised to any activation):
//
//	‖J‖²_F = Σ_j φ′(z_j)² Σ_i W_ij²
//
// L ≥ 2 layers: M = D_L W_Lᵀ ⋯ W_2ᵀ D_1 per sample ([nL, n1]) is built from
// the code backwards, and ‖J‖²_F = tr(M G Mᵀ) with G = W_1ᵀ W_1 ([n1, n1]).
func penalty(enc []layer, w []*G.Node, batch int, arch []int) (*G.Node, error) {
	L := len(enc)
	if L == 1 {
		colNorm := must(G.Sum(must(G.Square(w[0])), 0)) // [n1]: Σ_i W_ij²
		return G.Mul(must(G.Square(enc[0].d)), colNorm) // [B]
	}
	nL := arch[L]
	// T = D_L W_Lᵀ D_{L−1}: T[b,i,j] = d_L[b,i] · W_L[j,i] · d_{L−1}[b,j].
	wt := must(G.Reshape(must(G.Transpose(w[L-1])), tensor.Shape{1, nL, arch[L-1]}))
	dL := must(G.Reshape(enc[L-1].d, tensor.Shape{batch, nL, 1}))
	t := must(G.BroadcastHadamardProd(dL, wt, []byte{2}, []byte{0}))
	t = must(G.BroadcastHadamardProd(t, must(G.Reshape(enc[L-2].d, tensor.Shape{batch, 1, arch[L-1]})), nil, []byte{1}))
	// T ← (T W_kᵀ) D_{k−1} for the layers below, down to the first hidden.
	for k := L - 2; k >= 1; k-- {
		t2 := must(G.Reshape(t, tensor.Shape{batch * nL, arch[k+1]}))
		t2 = must(G.Mul(t2, must(G.Transpose(w[k])))) // [B·nL, n_k]
		t = must(G.Reshape(t2, tensor.Shape{batch, nL, arch[k]}))
		t = must(G.BroadcastHadamardProd(t, must(G.Reshape(enc[k-1].d, tensor.Shape{batch, 1, arch[k]})), nil, []byte{1}))
	}
	n1 := arch[1]
	gram := must(G.Mul(must(G.Transpose(w[0])), w[0])) // [n1, n1] = W_1ᵀ W_1
	tr := must(G.Reshape(t, tensor.Shape{batch * nL, n1}))
	tg := must(G.Mul(tr, gram))
	prod := must(G.HadamardProd(tg, tr))
	return G.Sum(must(G.Reshape(prod, tensor.Shape{batch, nL * n1})), 1)
}
