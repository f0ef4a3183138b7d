// SPDX-License-Identifier: Apache-2.0

package kernels

import "math"

// Act is an activation function.
type Act uint8

// The activations.
const (
	Linear Act = iota
	Sigmoid
	Tanh
	ReLU
)

func (a Act) String() string {
	switch a {
	case Linear:
		return "linear"
	case Sigmoid:
		return "sigmoid"
	case Tanh:
		return "tanh"
	case ReLU:
		return "relu"
	}
	return "act?"
}

// sigmoid is 1/(1+e^−z), evaluated so that it never overflows.
func sigmoid[T Float](z T) T {
	if z >= 0 {
		return T(1 / (1 + math.Exp(-float64(z))))
	}
	e := math.Exp(float64(z))
	return T(e / (1 + e))
}

// apply is φ(z).
func apply[T Float](act Act, z T) T {
	switch act {
	case Sigmoid:
		return sigmoid(z)
	case Tanh:
		return T(math.Tanh(float64(z)))
	case ReLU:
		if z > 0 {
			return z
		}
		return 0
	}
	return z
}

// derivFromOutput is φ′(z) written in terms of a = φ(z): a(1−a) for
// sigmoid, 1−a² for tanh, 1[a>0] (= 1[z>0]) for ReLU, 1 for linear.
func derivFromOutput[T Float](act Act, a T) T {
	switch act {
	case Sigmoid:
		return a * (1 - a)
	case Tanh:
		return 1 - a*a
	case ReLU:
		if a > 0 {
			return 1
		}
		return 0
	}
	return 1
}

// BiasAct is one dense layer's output after the matrix product:
//
//	out[r,j] = φ(xw[r,j] + b[j])
//
// out, xw: [rows, n]; b: [n].
func BiasAct[T Float](out, xw, b []T, rows, n int, act Act) {
	if len(out) != rows*n || len(xw) != rows*n || len(b) != n {
		panic("kernels: BiasAct: wrong lengths")
	}
	if o, ok := as32(out); ok && biasAct32(o, any(xw).([]float32), any(b).([]float32), rows, n, act) {
		return
	}
	for r := 0; r < rows; r++ {
		o, x := out[r*n:(r+1)*n], xw[r*n:(r+1)*n]
		for j, bj := range b {
			o[j] = apply(act, x[j]+bj)
		}
	}
}

// ActBackward is the gradient through an activation, from its output:
//
//	out[i] = g[i] · φ′(z[i]),  with φ′ computed from a[i] = φ(z[i])
//
// out, a, g: [n].
func ActBackward[T Float](out, a, g []T, act Act) {
	if len(out) != len(a) || len(g) != len(a) {
		panic("kernels: ActBackward: wrong lengths")
	}
	if o, ok := as32(out); ok {
		actBackward32(o, any(a).([]float32), any(g).([]float32), act)
		return
	}
	for i, ai := range a {
		out[i] = g[i] * derivFromOutput(act, ai)
	}
}

// ActDeriv is the activation's derivative from its output, d = φ′(z)
// computed from a = φ(z) (see ActBackward). out, a: [n].
func ActDeriv[T Float](out, a []T, act Act) {
	if len(out) != len(a) {
		panic("kernels: ActDeriv: wrong lengths")
	}
	if o, ok := as32(out); ok {
		actDeriv32(o, any(a).([]float32), act)
		return
	}
	for i, ai := range a {
		out[i] = derivFromOutput(act, ai)
	}
}

// ActDerivBackward is the gradient of ActDeriv with respect to a:
//
//	out[i] = g[i] · ∂φ′/∂a = g[i] · (1−2a) (sigmoid), g[i] · (−2a) (tanh), 0 (ReLU, linear)
//
// out, a, g: [n].
func ActDerivBackward[T Float](out, a, g []T, act Act) {
	if len(out) != len(a) || len(g) != len(a) {
		panic("kernels: ActDerivBackward: wrong lengths")
	}
	if o, ok := as32(out); ok {
		actDerivBackward32(o, any(a).([]float32), any(g).([]float32), act)
		return
	}
	for i, ai := range a {
		switch act {
		case Sigmoid:
			out[i] = g[i] * (1 - 2*ai)
		case Tanh:
			out[i] = g[i] * (-2 * ai)
		default:
			out[i] = 0
		}
	}
}

// Apply is out[i] = φ(z[i]). out, z: [n].
func Apply[T Float](out, z []T, act Act) {
	if len(out) != len(z) {
		panic("kernels: Apply: wrong lengths")
	}
	if o, ok := as32(out); ok && apply32(o, any(z).([]float32), act) {
		return
	}
	for i, zi := range z {
		out[i] = apply(act, zi)
	}
}

// ColSum is out[j] = Σ_r x[r,j]. out: [n]; x: [rows, n].
func ColSum[T Float](out, x []T, rows, n int) {
	if len(out) != n || len(x) != rows*n {
		panic("kernels: ColSum: wrong lengths")
	}
	if o, ok := as32(out); ok {
		colSum32(o, any(x).([]float32), rows, n)
		return
	}
	clear(out)
	for r := 0; r < rows; r++ {
		for j, v := range x[r*n : (r+1)*n] {
			out[j] += v
		}
	}
}
