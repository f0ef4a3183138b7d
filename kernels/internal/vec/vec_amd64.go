// SPDX-License-Identifier: Apache-2.0

//go:build !purego

package vec

import "golang.org/x/sys/cpu"

// useAVX2 says whether the entry points run the assembly in vec_amd64.s:
// the CPU (and the OS, for the YMM registers) must support AVX2 and FMA.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The assembly. The first slice's length is the element count, the others
// must be at least as long (the entry points in dispatch.go check).

// expAVX2 sets dst[i] = e^src[i], src clamped to [−87.3, 88.7].
//
//go:noescape
func expAVX2(dst, src []float32)

// sigmoidAVX2 sets dst[i] = 1/(1+e^−src[i]).
//
//go:noescape
func sigmoidAVX2(dst, src []float32)

// addSigmoidAVX2 sets dst[i] = σ(x[i]+b[i]).
//
//go:noescape
func addSigmoidAVX2(dst, x, b []float32)

// softplusAVX2 sets acc[j] = Π (1+e^−|z[i]|) and acc[8+j] = Σ max(z[i], 0)
// over the i ≡ j mod 8, for len(z) ≤ 8000.
//
//go:noescape
func softplusAVX2(z []float32, acc *[16]float64)

// adamAVX2 is AdamGo on p[:len(p)&^7], with
// k = {b1, 1−b1, b2, 1−b2, c1, c2, lr, eps}.
//
//go:noescape
func adamAVX2(p, g, m, v []float32, k *[8]float32, zero bool)

// finiteAVX2 reports whether x[:len(x)&^7] holds no NaN and no ±Inf.
//
//go:noescape
func finiteAVX2(x []float32) bool

// addAVX2 is AddGo on dst[:len(dst)&^7].
//
//go:noescape
func addAVX2(dst, x, y []float32)

// scaleMulAVX2 is ScaleMulGo on dst[:len(dst)&^7].
//
//go:noescape
func scaleMulAVX2(dst []float32, s float32, x, y []float32)

// The activations' derivatives on dst[:len(dst)&^7]: see the Go versions.

//go:noescape
func sigmoidDerivAVX2(dst, a []float32)

//go:noescape
func sigmoidBackwardAVX2(dst, a, g []float32)

//go:noescape
func sigmoidDerivBackwardAVX2(dst, a, g []float32)

//go:noescape
func reluBackwardAVX2(dst, a, g []float32)

//go:noescape
func scaleDiffAVX2(dst, a, x []float32, s float32)

//go:noescape
func sigmoidSSEGradAVX2(dst, a, x []float32, s float32)

//go:noescape
func sqDistAVX2(a, b []float32, acc *[4]float64)

// mulAVX2 is MulGo on dst[:len(dst)&^7].
//
//go:noescape
func mulAVX2(dst, x, y []float32)

// addSq4AVX2 is AddSq4Go on dst[:len(dst)&^7].
//
//go:noescape
func addSq4AVX2(dst, w0, w1, w2, w3 []float32)
