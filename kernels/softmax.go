// SPDX-License-Identifier: Apache-2.0

package kernels

import "math"

// SoftmaxXent is the per-sample cross-entropy of a softmax over the logits
// z against the target distribution y (one-hot labels, in a classifier):
//
//	out[b] = −Σ_i y[b,i] log softmax(z[b])_i = Σ_i y[b,i] (lse(z[b]) − z[b,i])
//
// with lse(z) = m + log Σ_i e^(z_i − m), m = max_i z_i, so that it is exact
// and finite for any finite logits. out: [rows]; z, y: [rows, n].
func SoftmaxXent[T Float](out, z, y []T, rows, n int) {
	if len(out) != rows || len(z) != rows*n || len(y) != rows*n {
		panic("kernels: SoftmaxXent: wrong lengths")
	}
	for r := 0; r < rows; r++ {
		zr, yr := z[r*n:(r+1)*n], y[r*n:(r+1)*n]
		lse := logSumExp(zr)
		var s float64
		for i, zi := range zr {
			if yr[i] != 0 {
				s += float64(yr[i]) * (lse - float64(zi))
			}
		}
		out[r] = T(s)
	}
}

// SoftmaxXentGrad is the gradient of Σ_b g[b]·SoftmaxXent[b] with respect
// to z:
//
//	out[b,i] = g[b] · (softmax(z[b])_i · Σ_j y[b,j] − y[b,i])
//
// which is g[b]·(softmax(z[b]) − y[b]) for one-hot targets. out, z, y:
// [rows, n]; g: [rows].
func SoftmaxXentGrad[T Float](out, z, y, g []T, rows, n int) {
	if len(out) != rows*n || len(z) != rows*n || len(y) != rows*n || len(g) != rows {
		panic("kernels: SoftmaxXentGrad: wrong lengths")
	}
	for r := 0; r < rows; r++ {
		zr, yr, or := z[r*n:(r+1)*n], y[r*n:(r+1)*n], out[r*n:(r+1)*n]
		lse := logSumExp(zr)
		var sy float64
		for _, v := range yr {
			sy += float64(v)
		}
		gb := float64(g[r])
		for i, zi := range zr {
			p := math.Exp(float64(zi) - lse)
			or[i] = T(gb * (p*sy - float64(yr[i])))
		}
	}
}

// logSumExp is log Σ_i e^(z_i), computed in float64 after subtracting the
// largest z_i; −Inf for an empty z.
func logSumExp[T Float](z []T) float64 {
	if len(z) == 0 {
		return math.Inf(-1)
	}
	m := float64(z[0])
	for _, v := range z[1:] {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}
