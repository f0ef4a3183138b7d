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
	adamGo(p, g, m, v, b1, b2, c1, c2, lr, eps)
	clear(g[:len(p)])
}

// AdamKeepGo is AdamGo leaving g as it is.
func AdamKeepGo(p, g, m, v []float32, b1, b2, c1, c2, lr, eps float32) {
	adamGo(p, g, m, v, b1, b2, c1, c2, lr, eps)
}

func adamGo(p, g, m, v []float32, b1, b2, c1, c2, lr, eps float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := range p {
		gi := g[i]
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		p[i] -= lr * (mi * c1) / (float32(math.Sqrt(float64(vi*c2))) + eps)
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

// SigmoidDerivGo sets dst[i] = a[i]·(1−a[i]): σ′ from σ's output a.
func SigmoidDerivGo(dst, a []float32) {
	a = a[:len(dst)]
	for i, v := range a {
		dst[i] = v * (1 - v)
	}
}

// SigmoidBackwardGo sets dst[i] = g[i]·(a[i]·(1−a[i])): the gradient
// through σ from its output a.
func SigmoidBackwardGo(dst, a, g []float32) {
	a, g = a[:len(dst)], g[:len(dst)]
	for i, v := range a {
		dst[i] = g[i] * (v * (1 - v))
	}
}

// SigmoidDerivBackwardGo sets dst[i] = g[i]·(1−2a[i]): the gradient of
// a(1−a) with respect to a.
func SigmoidDerivBackwardGo(dst, a, g []float32) {
	a, g = a[:len(dst)], g[:len(dst)]
	for i, v := range a {
		dst[i] = g[i] * (1 - 2*v)
	}
}

// ReluBackwardGo sets dst[i] = g[i] where a[i] > 0, else 0: the gradient
// through ReLU from its output a.
func ReluBackwardGo(dst, a, g []float32) {
	a, g = a[:len(dst)], g[:len(dst)]
	for i, v := range a {
		if v > 0 {
			dst[i] = g[i]
		} else {
			dst[i] = 0
		}
	}
}

// ScaleDiffGo sets dst[i] = s·(a[i]−x[i]).
func ScaleDiffGo(dst, a, x []float32, s float32) {
	a, x = a[:len(dst)], x[:len(dst)]
	for i, v := range a {
		dst[i] = s * (v - x[i])
	}
}

// SigmoidSSEGradGo sets dst[i] = (s·(a[i]−x[i]))·(a[i]·(1−a[i])).
func SigmoidSSEGradGo(dst, a, x []float32, s float32) {
	a, x = a[:len(dst)], x[:len(dst)]
	for i, v := range a {
		dst[i] = s * (v - x[i]) * (v * (1 - v))
	}
}

// SqDistGo is Σ (a[i]−b[i])², each difference in float32, squared and
// summed in float64 over four partial sums (element i into sum i mod 4).
func SqDistGo(a, b []float32) float64 {
	var acc [4]float64
	sqDistTail(a, b, &acc, 0)
	return (acc[0] + acc[1]) + (acc[2] + acc[3])
}

// sqDistTail adds a[i:], b[i:] into acc as SqDistGo does, i a multiple of 4.
func sqDistTail(a, b []float32, acc *[4]float64, i int) {
	b = b[:len(a)]
	for ; i+3 < len(a); i += 4 {
		d0 := float64(a[i] - b[i])
		d1 := float64(a[i+1] - b[i+1])
		d2 := float64(a[i+2] - b[i+2])
		d3 := float64(a[i+3] - b[i+3])
		acc[0] += d0 * d0
		acc[1] += d1 * d1
		acc[2] += d2 * d2
		acc[3] += d3 * d3
	}
	for ; i < len(a); i++ {
		d := float64(a[i] - b[i])
		acc[0] += d * d
	}
}

// MulGo sets dst[i] = x[i]·y[i].
func MulGo(dst, x, y []float32) {
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = x[i] * y[i]
	}
}

// AddSq4Go sets dst[i] += (w0[i]² + w1[i]²) + (w2[i]² + w3[i]²): four
// rows of a column sum of squares.
func AddSq4Go(dst, w0, w1, w2, w3 []float32) {
	w0, w1, w2, w3 = w0[:len(dst)], w1[:len(dst)], w2[:len(dst)], w3[:len(dst)]
	for j := range dst {
		dst[j] += (w0[j]*w0[j] + w1[j]*w1[j]) + (w2[j]*w2[j] + w3[j]*w3[j])
	}
}
