// SPDX-License-Identifier: Apache-2.0

// Package graph builds a Contractive Autoencoder (CAE) as a Gorgonia
// expression graph: encoder, decoder, reconstruction loss and the exact
// contractive penalty, with gradients from a single gorgonia.Grad call.
//
// graph does no I/O and knows nothing about devices: it turns a Spec and a set
// of parameter tensors into nodes. The engine package runs them.
//
// # The model
//
// An encoder of L dense layers maps x ∈ R^n0 to the code h = a_L:
//
//	z_k = a_{k−1} W_k + b_k,   a_k = φ(z_k),   a_0 = x,   W_k: [n_{k−1}, n_k]
//
// A mirrored decoder maps h back to R^n0. Its hidden layers use the encoder's
// activation φ and its last layer uses OutAct (sigmoid or linear). With tied
// weights the decoder's k-th layer uses the transpose of the matching encoder
// weight. Weights are stored here as [in, out], so that a layer is one matrix
// product a·W; the engine stores them as [out, in] in model.safetensors.
//
// # The loss
//
// Per batch, with n real rows (the rest are padding, masked out):
//
//	loss = (1/n) Σ_b mask_b (recon_b + λ ‖J_h(x_b)‖²_F)
//
// recon_b is the sum over the input's pixels of the squared error (SSE) or of
// the binary cross-entropy (BCE, computed from the logits as
// softplus(z) − x·z, which is exact and cannot overflow).
//
// # The contractive penalty
//
// J_h(x) = D_L W_Lᵀ D_{L−1} ⋯ D_1 W_1ᵀ with D_k = diag(φ′(z_k)) and φ′ the
// true derivative of the layer's activation: h(1−h) for sigmoid, 1−h² for
// tanh and 1[z>0] for ReLU. Writing M = D_L W_Lᵀ ⋯ W_2ᵀ D_1 (code × first
// hidden layer, per sample) and G = W_1ᵀ W_1,
//
//	‖J‖²_F = tr(M G Mᵀ)
//
// so no per-sample code × input tensor is ever formed. For one layer M = D_1
// and this is Rifai et al.'s (ICML 2011) closed form for a sigmoid encoder:
//
//	‖J‖²_F = Σ_j (h_j(1−h_j))² Σ_i W_ij²
//
// The tests check the penalty against a finite-difference Jacobian and every
// gradient against central differences, in float64.
//
// # The classifier
//
// BuildClassifier makes the network a CAE is fine-tuned into (Rifai et al.,
// Table 1): the encoder's layers, named and shaped as in Spec.ParamShapes so
// that a CAE's weights are copied by name, then a softmax layer,
//
//	z = a_L W_c + b_c,   loss = (1/n) Σ_b mask_b (−Σ_i y_bi log softmax(z_b)_i)
//
// with the cross-entropy computed from the logits (kernels.SoftmaxXent, a
// max-shifted log-sum-exp). Its gradients, from one gorgonia.Grad call, are
// checked against central differences in float64.
package graph
