// SPDX-License-Identifier: Apache-2.0

//go:build !amd64 || purego

package vec

// useAVX2 is false where the assembly is not built: the entry points run
// the *Go functions, and the stubs below are never called.
const useAVX2 = false

func expAVX2(dst, src []float32)                              { panic("vec: no assembly") }
func sigmoidAVX2(dst, src []float32)                          { panic("vec: no assembly") }
func addSigmoidAVX2(dst, x, b []float32)                      { panic("vec: no assembly") }
func softplusAVX2(z []float32, acc *[16]float64)              { panic("vec: no assembly") }
func adamAVX2(p, g, m, v []float32, k *[8]float32, zero bool) { panic("vec: no assembly") }
func finiteAVX2(x []float32) bool                             { panic("vec: no assembly") }
func addAVX2(dst, x, y []float32)                             { panic("vec: no assembly") }
func scaleMulAVX2(dst []float32, s float32, x, y []float32)   { panic("vec: no assembly") }
func sigmoidDerivAVX2(dst, a []float32)                       { panic("vec: no assembly") }
func sigmoidBackwardAVX2(dst, a, g []float32)                 { panic("vec: no assembly") }
func sigmoidDerivBackwardAVX2(dst, a, g []float32)            { panic("vec: no assembly") }
func reluBackwardAVX2(dst, a, g []float32)                    { panic("vec: no assembly") }
func scaleDiffAVX2(dst, a, x []float32, s float32)            { panic("vec: no assembly") }
func sigmoidSSEGradAVX2(dst, a, x []float32, s float32)       { panic("vec: no assembly") }
func sqDistAVX2(a, b []float32, acc *[4]float64)              { panic("vec: no assembly") }
func mulAVX2(dst, x, y []float32)                             { panic("vec: no assembly") }
func addSq4AVX2(dst, w0, w1, w2, w3 []float32)                { panic("vec: no assembly") }
