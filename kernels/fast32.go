// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"math"

	"github.com/caetrain/caetrain/kernels/internal/vec"
)

// The float32 versions of the element-wise kernels that a training step
// spends its non-matrix time in. The generic kernels call them when T is
// float32, so the float64 instantiation (what the tests compare against)
// stays the plain specification. They take the activation's branch once
// per call instead of once per element, keep the loops free of bounds
// checks, and hand exponentials to package vec (AVX2 on amd64).

// chunk is the number of values the float32 kernels evaluate into a stack
// buffer at a time when they need φ(z) only transiently.
const chunk = 256

// as32 returns s as a []float32 when T is float32.
func as32[T Float](s []T) ([]float32, bool) {
	f, ok := any(s).([]float32)
	return f, ok
}

func biasAct32(out, xw, b []float32, rows, n int, act Act) bool {
	if act == Tanh {
		return false
	}
	for r := 0; r < rows; r++ {
		o, x := out[r*n:(r+1)*n], xw[r*n:(r+1)*n]
		switch act {
		case Sigmoid:
			vec.AddSigmoid(o, x, b)
		case ReLU:
			x, b := x[:len(o)], b[:len(o)]
			for j := range o {
				o[j] = max(x[j]+b[j], 0)
			}
		default:
			x, b := x[:len(o)], b[:len(o)]
			for j := range o {
				o[j] = x[j] + b[j]
			}
		}
	}
	return true
}

func apply32(out, z []float32, act Act) bool {
	z = z[:len(out)]
	switch act {
	case Sigmoid:
		vec.Sigmoid(out, z)
	case ReLU:
		for i, v := range z {
			out[i] = max(v, 0)
		}
	case Linear:
		copy(out, z)
	default:
		return false
	}
	return true
}

func actBackward32(out, a, g []float32, act Act) {
	a, g = a[:len(out)], g[:len(out)]
	switch act {
	case Sigmoid:
		vec.SigmoidBackward(out, a, g)
	case Tanh:
		for i, v := range a {
			out[i] = g[i] * (1 - v*v)
		}
	case ReLU:
		vec.ReluBackward(out, a, g)
	default:
		copy(out, g)
	}
}

func actDeriv32(out, a []float32, act Act) {
	a = a[:len(out)]
	switch act {
	case Sigmoid:
		vec.SigmoidDeriv(out, a)
	case Tanh:
		for i, v := range a {
			out[i] = 1 - v*v
		}
	case ReLU:
		for i, v := range a {
			if v > 0 {
				out[i] = 1
			} else {
				out[i] = 0
			}
		}
	default:
		for i := range out {
			out[i] = 1
		}
	}
}

func actDerivBackward32(out, a, g []float32, act Act) {
	a, g = a[:len(out)], g[:len(out)]
	switch act {
	case Sigmoid:
		vec.SigmoidDerivBackward(out, a, g)
	case Tanh:
		for i, v := range a {
			out[i] = g[i] * (-2 * v)
		}
	default:
		clear(out)
	}
}

func colSum32(out, x []float32, rows, n int) {
	clear(out)
	for r := 0; r < rows; r++ {
		vec.Add(out, out, x[r*n:(r+1)*n])
	}
}

// dot64 is Σ a[i]·b[i] accumulated in float64, over four partial sums.
func dot64[T Float](a, b []T) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+3 < len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// reconLoss32 computes ReconLoss in float32 with float64 sums. BCE is
// Σ softplus(z) − Σ x·z.
func reconLoss32(out, z, x []float32, rows, n int, outAct Act, bce bool) bool {
	if !bce && outAct == Tanh {
		return false
	}
	var buf [chunk]float32
	for r := 0; r < rows; r++ {
		zr, xr := z[r*n:(r+1)*n], x[r*n:(r+1)*n]
		var s float64
		switch {
		case bce:
			s = vec.SoftplusSum(zr) - dot64(xr, zr)
		case outAct == Sigmoid:
			for i0 := 0; i0 < n; i0 += chunk {
				zc, xc := zr[i0:min(i0+chunk, n)], xr[i0:min(i0+chunk, n)]
				a := buf[:len(zc)]
				vec.Sigmoid(a, zc)
				s += vec.SqDist(a, xc)
			}
		case outAct == ReLU:
			for i0 := 0; i0 < n; i0 += chunk {
				zc, xc := zr[i0:min(i0+chunk, n)], xr[i0:min(i0+chunk, n)]
				a := buf[:len(zc)]
				for i, v := range zc {
					a[i] = max(v, 0)
				}
				s += vec.SqDist(a, xc)
			}
		default: // linear
			s = vec.SqDist(zr, xr)
		}
		out[r] = float32(s)
	}
	return true
}

// reconGrad32 computes ReconGrad in float32.
func reconGrad32(out, z, x, g []float32, rows, n int, outAct Act, bce bool) bool {
	if !bce && outAct == Tanh {
		return false
	}
	for r := 0; r < rows; r++ {
		zr, xr, or := z[r*n:(r+1)*n], x[r*n:(r+1)*n], out[r*n:(r+1)*n]
		gb := g[r]
		xr = xr[:len(or)]
		switch {
		case bce:
			vec.Sigmoid(or, zr)
			vec.ScaleDiff(or, or, xr, gb)
		case outAct == Sigmoid:
			vec.Sigmoid(or, zr)
			vec.SigmoidSSEGrad(or, or, xr, 2*gb)
		case outAct == ReLU:
			zr = zr[:len(or)]
			g2 := 2 * gb
			for i, v := range zr {
				if v > 0 {
					or[i] = g2 * (v - xr[i])
				} else {
					or[i] = 0
				}
			}
		default: // linear
			vec.ScaleDiff(or, zr, xr, 2*gb)
		}
	}
	return true
}

func adamStep32(p, g, m, v []float32, t int, h AdamHyper, zero bool) {
	c1 := float32(1 / (1 - math.Pow(h.Beta1, float64(t))))
	c2 := float32(1 / (1 - math.Pow(h.Beta2, float64(t))))
	if !zero {
		vec.AdamKeep(p, g, m, v, float32(h.Beta1), float32(h.Beta2), c1, c2, float32(h.LR), float32(h.Eps))
		return
	}
	vec.Adam(p, g, m, v, float32(h.Beta1), float32(h.Beta2), c1, c2, float32(h.LR), float32(h.Eps))
}
