// SPDX-License-Identifier: Apache-2.0

package vec

import (
	"math"
	"strconv"
)

// Impl names the implementation the entry points run: "avx2" where the
// AVX2+FMA assembly is built (amd64 without the purego tag) and the CPU has
// both features, "go" (the *Go functions) everywhere else.
var Impl = implName()

func implName() string {
	if useAVX2 {
		return "avx2"
	}
	return "go"
}

// The assembly takes any length: the elements past the last multiple of 8
// go through masked loads and stores, so every element of a result comes
// from the same code, and even one element is faster than the Go version's
// float64 math.Exp (about 20 ns against 28 for a sigmoid). Only Adam's Go
// version, which has no exp, beats a lone vector of the assembly's (square
// root and division latency): Adam runs AdamGo on its last len(p) mod 8
// elements, which gives the same results bit for bit.

// softplusChunk is how many elements one softplusAVX2 call takes: 63·16,
// so that each of its 8 float64 lanes multiplies at most 126 factors in
// (1, 2] and the product of all 8 lanes is at most 2^1008, still finite.
const softplusChunk = 1008

// Exp sets dst[i] = e^src[i] for i < len(dst), with src clamped to
// [−87.3, 88.7] so that the results are normal float32s (see ExpGo). It
// panics if len(src) < len(dst). On AVX2 the relative error against
// float64 math.Exp is below 2e-7 (see the tests for the measured bound).
func Exp(dst, src []float32) {
	if len(src) < len(dst) {
		panicLen("Exp", "src", len(src), "dst", len(dst))
	}
	if useAVX2 {
		expAVX2(dst, src)
	} else {
		ExpGo(dst, src)
	}
}

// Sigmoid sets dst[i] = 1/(1+e^−src[i]) for i < len(dst); dst may be src.
// The results are finite and in [0, 1] for every non-NaN input (below
// x ≈ −88.7 the AVX2 version returns about 3e-39 instead of e^x). It panics
// if len(src) < len(dst).
func Sigmoid(dst, src []float32) {
	if len(src) < len(dst) {
		panicLen("Sigmoid", "src", len(src), "dst", len(dst))
	}
	if useAVX2 {
		sigmoidAVX2(dst, src)
	} else {
		SigmoidGo(dst, src)
	}
}

// AddSigmoid sets dst[i] = σ(x[i] + b[i]) for i < len(dst), the sum rounded
// to float32 first; dst may be x. It panics if x or b is shorter than dst.
func AddSigmoid(dst, x, b []float32) {
	if len(x) < len(dst) {
		panicLen("AddSigmoid", "x", len(x), "dst", len(dst))
	}
	if len(b) < len(dst) {
		panicLen("AddSigmoid", "b", len(b), "dst", len(dst))
	}
	if useAVX2 {
		addSigmoidAVX2(dst, x, b)
	} else {
		AddSigmoidGo(dst, x, b)
	}
}

// SoftplusSum returns Σ_i log(1+e^z[i]), accumulated in float64.
//
// The AVX2 version needs no vector log: Σ softplus(z) = Σ max(z, 0) +
// log Π (1+e^−|z|). For each chunk of z the assembly returns 8 float64
// lane products of the factors (each in (1, 2]) and 8 lane sums of
// max(z, 0); the chunk's product is folded into a mantissa and a binary
// exponent with math.Frexp, so a whole slice costs one math.Log.
func SoftplusSum(z []float32) float64 {
	if !useAVX2 {
		return SoftplusSumGo(z)
	}
	var (
		acc  [16]float64
		pos  float64 // Σ max(z, 0)
		mant = 1.0   // Π (1+e^−|z|) = mant·2^exp, mant in [0.5, 1)
		exp  int
	)
	for len(z) > 0 {
		k := min(len(z), softplusChunk)
		softplusAVX2(z[:k], &acc)
		z = z[k:]
		prod := acc[0] * acc[1] * acc[2] * acc[3] * acc[4] * acc[5] * acc[6] * acc[7]
		f, e := math.Frexp(mant * prod)
		mant, exp = f, exp+e
		pos += acc[8] + acc[9] + acc[10] + acc[11] + acc[12] + acc[13] + acc[14] + acc[15]
	}
	return pos + (math.Log(mant) + float64(exp)*math.Ln2)
}

// Adam runs one Adam update of p from its gradient g, with the moments m
// and v, and zeroes g; see AdamGo for the formula. It panics if g, m or v
// is shorter than p. The AVX2 version does AdamGo's float32 operations in
// the same order, so its results are the same (see the tests).
func Adam(p, g, m, v []float32, b1, b2, c1, c2, lr, eps float32) {
	adam(p, g, m, v, b1, b2, c1, c2, lr, eps, true)
}

// AdamKeep is Adam leaving g as it is: for callers that overwrite their
// gradients every step, it saves Adam a store of every gradient (one of
// the eight arrays it streams).
func AdamKeep(p, g, m, v []float32, b1, b2, c1, c2, lr, eps float32) {
	adam(p, g, m, v, b1, b2, c1, c2, lr, eps, false)
}

func adam(p, g, m, v []float32, b1, b2, c1, c2, lr, eps float32, zero bool) {
	if len(g) < len(p) {
		panicLen("Adam", "g", len(g), "p", len(p))
	}
	if len(m) < len(p) {
		panicLen("Adam", "m", len(m), "p", len(p))
	}
	if len(v) < len(p) {
		panicLen("Adam", "v", len(v), "p", len(p))
	}
	n := 0
	if useAVX2 && len(p) >= 8 {
		n = len(p) &^ 7
		k := [8]float32{b1, 1 - b1, b2, 1 - b2, c1, c2, lr, eps}
		adamAVX2(p[:n], g, m, v, &k, zero)
	}
	if n < len(p) {
		if zero {
			AdamGo(p[n:], g[n:], m[n:], v[n:], b1, b2, c1, c2, lr, eps)
		} else {
			AdamKeepGo(p[n:], g[n:], m[n:], v[n:], b1, b2, c1, c2, lr, eps)
		}
	}
}

// AllFinite reports whether x holds no NaN and no ±Inf (the check a
// training step makes of every gradient before it updates the weights).
func AllFinite(x []float32) bool {
	n := 0
	if useAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		if !finiteAVX2(x[:n]) {
			return false
		}
	}
	return AllFiniteGo(x[n:])
}

// Add sets dst[i] = x[i] + y[i] (dst may be x or y). It panics if x or y
// is shorter than dst. Same results as AddGo, bit for bit.
func Add(dst, x, y []float32) {
	n := split("Add", "x", "y", dst, x, y)
	if n > 0 {
		addAVX2(dst[:n], x, y)
	}
	AddGo(dst[n:], x[n:], y[n:])
}

// Mul sets dst[i] = x[i]·y[i] (dst may be x or y; MulGo, bit for bit).
// It panics if x or y is shorter than dst.
func Mul(dst, x, y []float32) {
	n := split("Mul", "x", "y", dst, x, y)
	if n > 0 {
		mulAVX2(dst[:n], x, y)
	}
	MulGo(dst[n:], x[n:], y[n:])
}

// AddSq4 sets dst[i] += (w0[i]² + w1[i]²) + (w2[i]² + w3[i]²) (AddSq4Go,
// bit for bit). It panics if a row is shorter than dst.
func AddSq4(dst, w0, w1, w2, w3 []float32) {
	for _, w := range [][]float32{w0, w1, w2, w3} {
		if len(w) < len(dst) {
			panicLen("AddSq4", "w", len(w), "dst", len(dst))
		}
	}
	n := 0
	if useAVX2 && len(dst) >= 8 {
		n = len(dst) &^ 7
		addSq4AVX2(dst[:n], w0, w1, w2, w3)
	}
	AddSq4Go(dst[n:], w0[n:], w1[n:], w2[n:], w3[n:])
}

// ScaleMul sets dst[i] = (s·x[i])·y[i], rounding after each product as
// ScaleMulGo does (so the results are the same, bit for bit). It panics if
// x or y is shorter than dst.
func ScaleMul(dst []float32, s float32, x, y []float32) {
	n := split("ScaleMul", "x", "y", dst, x, y)
	if n > 0 {
		scaleMulAVX2(dst[:n], s, x, y)
	}
	ScaleMulGo(dst[n:], s, x[n:], y[n:])
}

// SigmoidDeriv sets dst[i] = a[i]·(1−a[i]) (see SigmoidDerivGo; the same
// results bit for bit). It panics if a is shorter than dst.
func SigmoidDeriv(dst, a []float32) {
	if len(a) < len(dst) {
		panicLen("SigmoidDeriv", "a", len(a), "dst", len(dst))
	}
	n := 0
	if useAVX2 && len(dst) >= 8 {
		n = len(dst) &^ 7
		sigmoidDerivAVX2(dst[:n], a)
	}
	SigmoidDerivGo(dst[n:], a[n:])
}

// split checks a binary element-wise function's lengths (an and bn name
// its inputs in the panic) and returns how many leading elements the
// assembly takes (whole vectors); the Go version takes the rest. It reads
// only lengths, and the assembly does not keep its slices, so callers'
// slices do not escape (a func-valued helper would make them, and a
// caller's stack buffer would move to the heap).
func split(fn, an, bn string, dst, a, b []float32) int {
	if len(a) < len(dst) {
		panicLen(fn, an, len(a), "dst", len(dst))
	}
	if len(b) < len(dst) {
		panicLen(fn, bn, len(b), "dst", len(dst))
	}
	if useAVX2 && len(dst) >= 8 {
		return len(dst) &^ 7
	}
	return 0
}

// SigmoidBackward sets dst[i] = g[i]·(a[i]·(1−a[i])) (SigmoidBackwardGo,
// bit for bit). It panics if a or g is shorter than dst.
func SigmoidBackward(dst, a, g []float32) {
	n := split("SigmoidBackward", "a", "g", dst, a, g)
	if n > 0 {
		sigmoidBackwardAVX2(dst[:n], a, g)
	}
	SigmoidBackwardGo(dst[n:], a[n:], g[n:])
}

// SigmoidDerivBackward sets dst[i] = g[i]·(1−2a[i])
// (SigmoidDerivBackwardGo, bit for bit). It panics if a or g is shorter
// than dst.
func SigmoidDerivBackward(dst, a, g []float32) {
	n := split("SigmoidDerivBackward", "a", "g", dst, a, g)
	if n > 0 {
		sigmoidDerivBackwardAVX2(dst[:n], a, g)
	}
	SigmoidDerivBackwardGo(dst[n:], a[n:], g[n:])
}

// ReluBackward sets dst[i] = g[i] where a[i] > 0, else 0 (ReluBackwardGo,
// bit for bit). It panics if a or g is shorter than dst.
func ReluBackward(dst, a, g []float32) {
	n := split("ReluBackward", "a", "g", dst, a, g)
	if n > 0 {
		reluBackwardAVX2(dst[:n], a, g)
	}
	ReluBackwardGo(dst[n:], a[n:], g[n:])
}

// ScaleDiff sets dst[i] = s·(a[i]−x[i]) (ScaleDiffGo, bit for bit). It
// panics if a or x is shorter than dst.
func ScaleDiff(dst, a, x []float32, s float32) {
	n := split("ScaleDiff", "a", "x", dst, a, x)
	if n > 0 {
		scaleDiffAVX2(dst[:n], a, x, s)
	}
	ScaleDiffGo(dst[n:], a[n:], x[n:], s)
}

// SigmoidSSEGrad sets dst[i] = (s·(a[i]−x[i]))·(a[i]·(1−a[i]))
// (SigmoidSSEGradGo, bit for bit); dst may be a. It panics if a or x is
// shorter than dst.
func SigmoidSSEGrad(dst, a, x []float32, s float32) {
	n := split("SigmoidSSEGrad", "a", "x", dst, a, x)
	if n > 0 {
		sigmoidSSEGradAVX2(dst[:n], a, x, s)
	}
	SigmoidSSEGradGo(dst[n:], a[n:], x[n:], s)
}

// SqDist is SqDistGo, bit for bit. It panics if b is shorter than a.
func SqDist(a, b []float32) float64 {
	if len(b) < len(a) {
		panicLen("SqDist", "b", len(b), "a", len(a))
	}
	var acc [4]float64
	n := 0
	if useAVX2 && len(a) >= 4 {
		n = len(a) &^ 3
		sqDistAVX2(a[:n], b, &acc)
	}
	sqDistTail(a, b, &acc, n)
	return (acc[0] + acc[1]) + (acc[2] + acc[3])
}

// panicLen panics for a slice argument shorter than the first.
func panicLen(fn, name string, n int, first string, want int) {
	panic("vec." + fn + ": len(" + name + ") = " + strconv.Itoa(n) +
		" < len(" + first + ") = " + strconv.Itoa(want))
}
