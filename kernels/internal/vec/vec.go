// SPDX-License-Identifier: Apache-2.0

package vec

import "math"

// ExpGo is dst[i] = e^src[i], for src clamped to [−87.3, 88.7] (the range
// where e^x is a normal float32).
func ExpGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = float32(math.Exp(float64(clampExp(x))))
	}
}

func clampExp(x float32) float32 {
	return min(max(x, -87.3), 88.7)
}

// SigmoidGo is dst[i] = 1/(1+e^−src[i]). dst may be src.
func SigmoidGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = float32(1 / (1 + math.Exp(-float64(x))))
	}
}

// AddSigmoidGo is dst[i] = σ(x[i] + b[i]). dst may be x.
func AddSigmoidGo(dst, x, b []float32) {
	x, b = x[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = float32(1 / (1 + math.Exp(-float64(x[i]+b[i]))))
	}
}

// SoftplusSumGo is Σ_i log(1+e^z[i]), accumulated in float64.
func SoftplusSumGo(z []float32) float64 {
	var s float64
	for _, v := range z {
		x := float64(v)
		if x > 0 {
			s += x + math.Log1p(math.Exp(-x))
		} else {
			s += math.Log1p(math.Exp(x))
		}
	}
	return s
}

// AdamGo is one Adam update of p from its gradient g, with the moments m
// and v, and zeroes g (see kernels.AdamStep):
//
//	m ← b1·m + (1−b1)·g;  v ← b2·v + (1−b2)·g²
//	p ← p − lr·(m·c1)/(√(v·c2) + eps)
//
// c1, c2 are the bias corrections 1/(1−β1ᵗ), 1/(1−β2ᵗ).
func AdamGo(p, g, m, v []float32, b1, b2, c1, c2, lr, eps float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := range p {
		gi := g[i]
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		p[i] -= lr * (mi * c1) / (float32(math.Sqrt(float64(vi*c2))) + eps)
		g[i] = 0
	}
}

// AllFiniteGo reports whether x holds no NaN and no ±Inf.
func AllFiniteGo(x []float32) bool {
	for _, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return false
		}
	}
	return true
}

// AddGo sets dst[i] = x[i] + y[i].
func AddGo(dst, x, y []float32) {
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = x[i] + y[i]
	}
}

// ScaleMulGo sets dst[i] = (s·x[i])·y[i].
func ScaleMulGo(dst []float32, s float32, x, y []float32) {
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = s * x[i] * y[i]
	}
}
