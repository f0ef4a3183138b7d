// SPDX-License-Identifier: Apache-2.0

package kernels

import "math"

// softplus is log(1+e^z), exact and finite for every z.
func softplus[T Float](z T) T {
	zf := float64(z)
	if zf > 0 {
		return T(zf + math.Log1p(math.Exp(-zf)))
	}
	return T(math.Log1p(math.Exp(zf)))
}

// ReconLoss is the per-sample reconstruction loss of the decoder's last
// pre-activation z against the input x:
//
//	out[b] = Σ_i ℓ(z[b,i], x[b,i])
//	SSE:  ℓ = (φ(z) − x)²                 (φ the output activation)
//	BCE:  ℓ = −x log σ(z) − (1−x) log(1−σ(z)) = softplus(z) − x·z
//
// BCE requires a sigmoid output. out: [rows]; z, x: [rows, n].
func ReconLoss[T Float](out, z, x []T, rows, n int, outAct Act, bce bool) {
	if len(out) != rows || len(z) != rows*n || len(x) != rows*n {
		panic("kernels: ReconLoss: wrong lengths")
	}
	if o, ok := as32(out); ok && reconLoss32(o, any(z).([]float32), any(x).([]float32), rows, n, outAct, bce) {
		return
	}
	for r := 0; r < rows; r++ {
		zr, xr := z[r*n:(r+1)*n], x[r*n:(r+1)*n]
		var s T
		if bce {
			for i, zi := range zr {
				s += softplus(zi) - xr[i]*zi
			}
		} else {
			for i, zi := range zr {
				d := apply(outAct, zi) - xr[i]
				s += d * d
			}
		}
		out[r] = s
	}
}

// ReconGrad is the gradient of Σ_b g[b]·ReconLoss[b] with respect to z:
//
//	SSE:  out[b,i] = g[b] · 2(φ(z) − x) φ′(z)
//	BCE:  out[b,i] = g[b] · (σ(z) − x)
//
// out, z, x: [rows, n]; g: [rows].
func ReconGrad[T Float](out, z, x, g []T, rows, n int, outAct Act, bce bool) {
	if len(out) != rows*n || len(z) != rows*n || len(x) != rows*n || len(g) != rows {
		panic("kernels: ReconGrad: wrong lengths")
	}
	if o, ok := as32(out); ok && reconGrad32(o, any(z).([]float32), any(x).([]float32), any(g).([]float32), rows, n, outAct, bce) {
		return
	}
	for r := 0; r < rows; r++ {
		zr, xr, or := z[r*n:(r+1)*n], x[r*n:(r+1)*n], out[r*n:(r+1)*n]
		gb := g[r]
		for i, zi := range zr {
			if bce {
				or[i] = gb * (sigmoid(zi) - xr[i])
				continue
			}
			a := apply(outAct, zi)
			or[i] = gb * 2 * (a - xr[i]) * derivFromOutput(outAct, a)
		}
	}
}

// LossCombine is the batch loss from per-sample terms and the padding
// mask:
//
//	out = invn · Σ_b mask[b] · Σ_k w[k]·terms[k][b]
//
// out: [1]; terms[k], mask: [rows]; invn: [1].
func LossCombine[T Float](out []T, terms [][]T, w []float64, mask, invn []T) {
	if len(out) != 1 || len(invn) != 1 || len(terms) != len(w) {
		panic("kernels: LossCombine: wrong lengths")
	}
	var s T
	for k, t := range terms {
		if len(t) != len(mask) {
			panic("kernels: LossCombine: wrong lengths")
		}
		var sk T
		for b, v := range t {
			sk += mask[b] * v
		}
		s += T(w[k]) * sk
	}
	out[0] = invn[0] * s
}

// MaskWeights is the gradient of LossCombine with respect to terms[k]:
//
//	out[b] = g · w · invn · mask[b]
//
// out, mask: [rows]; invn, g: [1].
func MaskWeights[T Float](out, mask, invn, g []T, w float64) {
	if len(out) != len(mask) || len(invn) != 1 || len(g) != 1 {
		panic("kernels: MaskWeights: wrong lengths")
	}
	s := g[0] * T(w) * invn[0]
	for b, m := range mask {
		out[b] = s * m
	}
}
