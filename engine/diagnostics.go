// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/caetrain/caetrain/graph"
	"gonum.org/v1/gonum/mat"
)

// The diagnostics in this file recompute the encoder in plain Go, in
// float64, from the model's parameters: the Jacobian J_h(x) explicitly (the
// training graph never forms it) and codes at tiny perturbations, where
// float32 would lose the difference. They are measurements, not the training
// path; the tests check them against the Gorgonia graph.

// encoder64 is a float64 copy of a model's encoder.
type encoder64 struct {
	act  graph.Activation
	arch []int
	w    []*mat.Dense // layer l: [arch[l], arch[l+1]], as in graph.Params
	b    [][]float64  // layer l: [arch[l+1]]
}

func newEncoder64(p *graph.Params) (*encoder64, error) {
	s := p.Spec
	e := &encoder64{act: s.Act, arch: s.Arch}
	for l := 0; l < s.Layers(); l++ {
		wn, bn := fmt.Sprintf("encoder.%d.weight", l), fmt.Sprintf("encoder.%d.bias", l)
		wt, bt := p.Lookup(wn), p.Lookup(bn)
		if wt == nil || bt == nil {
			return nil, fmt.Errorf("engine: parameters lack %s or %s", wn, bn)
		}
		w, err := float64s(wt.Data())
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", wn, err)
		}
		b, err := float64s(bt.Data())
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", bn, err)
		}
		in, out := s.Arch[l], s.Arch[l+1]
		if len(w) != in*out || len(b) != out {
			return nil, fmt.Errorf("engine: %s or %s does not fit the architecture %v", wn, bn, s.Arch)
		}
		e.w = append(e.w, mat.NewDense(in, out, w))
		e.b = append(e.b, b)
	}
	return e, nil
}

func float64s(d any) ([]float64, error) {
	switch v := d.(type) {
	case []float32:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, nil
	case []float64:
		return append([]float64(nil), v...), nil
	}
	return nil, fmt.Errorf("unsupported element type %T", d)
}

func (e *encoder64) inDim() int   { return e.arch[0] }
func (e *encoder64) codeDim() int { return e.arch[len(e.arch)-1] }

// activate applies the activation to z in place.
func (e *encoder64) activate(z []float64) {
	switch e.act {
	case graph.Sigmoid:
		for i, v := range z {
			z[i] = 1 / (1 + math.Exp(-v))
		}
	case graph.Tanh:
		for i, v := range z {
			z[i] = math.Tanh(v)
		}
	case graph.ReLU:
		for i, v := range z {
			if !(v > 0) {
				z[i] = 0
			}
		}
	}
}

// derivative returns φ′ given the activation a = φ(z): the true derivative
// of each activation, as the penalty uses.
func (e *encoder64) derivative(a float64) float64 {
	switch e.act {
	case graph.Sigmoid:
		return a * (1 - a)
	case graph.Tanh:
		return 1 - a*a
	case graph.ReLU: // a > 0 exactly when z > 0
		if a > 0 {
			return 1
		}
	}
	return 0
}

// forward returns the codes of the rows of x ([n, inDim]) as [n, codeDim].
func (e *encoder64) forward(x *mat.Dense) *mat.Dense {
	a := x
	for l, w := range e.w {
		n, _ := a.Dims()
		z := mat.NewDense(n, e.arch[l+1], nil)
		z.Mul(a, w)
		raw := z.RawMatrix()
		for r := 0; r < n; r++ {
			row := raw.Data[r*raw.Stride : r*raw.Stride+raw.Cols]
			for j, bj := range e.b[l] {
				row[j] += bj
			}
			e.activate(row)
		}
		a = z
	}
	return a
}

// jacobian returns J_h(x) = D_L W_Lᵀ ⋯ D_1 W_1ᵀ, [codeDim, inDim], for one
// sample x.
func (e *encoder64) jacobian(x []float64) *mat.Dense {
	L := len(e.w)
	// Forward, keeping φ′ of every layer.
	d := make([][]float64, L)
	a := mat.NewVecDense(len(x), x)
	for l, w := range e.w {
		z := mat.NewVecDense(e.arch[l+1], nil)
		z.MulVec(w.T(), a)
		raw := z.RawVector().Data
		for j, bj := range e.b[l] {
			raw[j] += bj
		}
		e.activate(raw)
		d[l] = make([]float64, len(raw))
		for j, v := range raw {
			d[l][j] = e.derivative(v)
		}
		a = z
	}
	// M = D_L W_Lᵀ, then M ← M D_l W_lᵀ down to the first layer.
	top := e.w[L-1]
	m := mat.NewDense(e.arch[L], e.arch[L-1], nil)
	m.Apply(func(i, j int, _ float64) float64 { return d[L-1][i] * top.At(j, i) }, m)
	for l := L - 2; l >= 0; l-- {
		raw := m.RawMatrix()
		for i := 0; i < raw.Rows; i++ {
			row := raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols]
			for j := range row {
				row[j] *= d[l][j]
			}
		}
		next := mat.NewDense(e.arch[L], e.arch[l], nil)
		next.Mul(m, e.w[l].T())
		m = next
	}
	return m
}

func rowsFloat64(s Samples, idx []int) *mat.Dense {
	x := mat.NewDense(len(idx), s.Dim, nil)
	raw := x.RawMatrix()
	for r, i := range idx {
		dst := raw.Data[r*raw.Stride : r*raw.Stride+s.Dim]
		for j, v := range s.Row(i) {
			dst[j] = float64(v)
		}
	}
	return x
}

// Jacobian returns J_h(x), the Jacobian of the code with respect to the
// input at x, [code width, input width], computed in float64 from the
// parameters with each activation's true derivative.
func (t *Evaluator) Jacobian(x []float32) (*mat.Dense, error) {
	e, err := newEncoder64(t.Params)
	if err != nil {
		return nil, err
	}
	if len(x) != e.inDim() {
		return nil, fmt.Errorf("engine: a sample of %d values for a model whose input has %d", len(x), e.inDim())
	}
	xs := make([]float64, len(x))
	for i, v := range x {
		xs[i] = float64(v)
	}
	return e.jacobian(xs), nil
}

// Spectrum is the mean singular-value spectrum of J_h(x) over samples.
type Spectrum struct {
	N    int       // samples
	Mean []float64 // Mean[k]: mean over the samples of the (k+1)-th largest singular value
	Std  []float64 // Std[k]: their standard deviation
	Fro2 float64   // mean over the samples of Σ σ², all singular values: mean ‖J_h(x)‖²_F
}

// JacobianSpectrum computes the singular values of J_h(x) for each of the
// first n samples of s (all if n ≤ 0 or n > s.N) and returns the mean of
// the k largest, in decreasing order (fewer when the Jacobian's rank bound
// min(code, input) is smaller than k). Samples are spread over GOMAXPROCS
// workers; the result does not depend on their number.
func (t *Evaluator) JacobianSpectrum(s Samples, n, k int) (Spectrum, error) {
	e, err := newEncoder64(t.Params)
	if err != nil {
		return Spectrum{}, err
	}
	if s.Dim != e.inDim() {
		return Spectrum{}, fmt.Errorf("engine: samples have %d values, the model's input has %d", s.Dim, e.inDim())
	}
	if n <= 0 || n > s.N {
		n = s.N
	}
	if n == 0 {
		return Spectrum{}, errors.New("engine: no samples for the spectrum")
	}
	k = max(0, min(k, e.codeDim(), e.inDim()))
	top := make([][]float64, n)
	fro2 := make([]float64, n)
	fails := make([]bool, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float64, s.Dim)
			var svd mat.SVD
			for i := range next {
				for j, v := range s.Row(i) {
					x[j] = float64(v)
				}
				if !svd.Factorize(e.jacobian(x), mat.SVDNone) {
					fails[i] = true
					continue
				}
				sv := svd.Values(nil)
				for _, v := range sv {
					fro2[i] += v * v
				}
				top[i] = sv[:k]
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	sp := Spectrum{N: n, Mean: make([]float64, k), Std: make([]float64, k)}
	for i := 0; i < n; i++ {
		if fails[i] {
			return Spectrum{}, fmt.Errorf("engine: the SVD of J_h(x) did not converge for sample %d", i)
		}
		sp.Fro2 += fro2[i]
		for j, v := range top[i] {
			sp.Mean[j] += v
		}
	}
	sp.Fro2 /= float64(n)
	for j := range sp.Mean {
		sp.Mean[j] /= float64(n)
		for i := 0; i < n; i++ {
			dv := top[i][j] - sp.Mean[j]
			sp.Std[j] += dv * dv
		}
		sp.Std[j] = math.Sqrt(sp.Std[j] / float64(n))
	}
	return sp, nil
}

// ContractionPoint is one point of the contraction curve.
type ContractionPoint struct {
	Radius float64 `json:"radius"`     // ‖δ‖
	Mean   float64 `json:"mean_ratio"` // mean over samples of ‖h(x)−h(x+δ)‖/‖δ‖
	Std    float64 `json:"std_ratio"`  // its standard deviation over samples
}

// LogRadii returns k radii spaced evenly in log scale from lo to hi.
func LogRadii(lo, hi float64, k int) []float64 {
	if k == 1 {
		return []float64{lo}
	}
	r := make([]float64, k)
	for i := range r {
		r[i] = lo * math.Pow(hi/lo, float64(i)/float64(k-1))
	}
	return r
}

// contractionDirections returns n unit vectors of dim values, row-major,
// drawn uniformly on the sphere (normalised standard normal vectors) from a
// PCG stream of seed alone.
func contractionDirections(n, dim int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x636f6e7472616374)) // "contract"
	u := make([]float64, n*dim)
	for i := 0; i < n; i++ {
		row := u[i*dim : (i+1)*dim]
		var ss float64
		for j := range row {
			row[j] = rng.NormFloat64()
			ss += row[j] * row[j]
		}
		inv := 1 / math.Sqrt(ss)
		for j := range row {
			row[j] *= inv
		}
	}
	return u
}

// Contraction measures how much the encoder contracts the input space
// around each of the first n samples of s (all if n ≤ 0 or n > s.N): for
// each radius r it returns the mean over samples of ‖h(x) − h(x+δ)‖/‖δ‖
// with δ = r·u, u a random direction (isotropic: a normalised Gaussian
// vector). Each sample keeps one direction for every radius, and the
// directions depend only on seed, n and the input width, so every model
// evaluated with the same seed sees the same δ: curves differ only by the
// model. x+δ is not clipped to the pixel range [0,1]: the curve measures the
// map h, and clipping would shorten δ differently at each radius. As r → 0
// the ratio tends to ‖J_h(x) u‖.
func (t *Evaluator) Contraction(s Samples, n int, radii []float64, seed uint64) ([]ContractionPoint, error) {
	e, err := newEncoder64(t.Params)
	if err != nil {
		return nil, err
	}
	if s.Dim != e.inDim() {
		return nil, fmt.Errorf("engine: samples have %d values, the model's input has %d", s.Dim, e.inDim())
	}
	for _, r := range radii {
		if !(r > 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("engine: contraction radius %v: must be a positive number", r)
		}
	}
	if n <= 0 || n > s.N {
		n = s.N
	}
	if n == 0 {
		return nil, errors.New("engine: no samples for the contraction curve")
	}
	return e.contraction(s, n, radii, contractionDirections(n, s.Dim, seed)), nil
}

func (e *encoder64) contraction(s Samples, n int, radii []float64, dirs []float64) []ContractionPoint {
	const chunk = 256
	dim := s.Dim
	sum := make([]float64, len(radii))
	sum2 := make([]float64, len(radii))
	idx := make([]int, 0, chunk)
	for start := 0; start < n; start += chunk {
		idx = idx[:0]
		for i := start; i < min(start+chunk, n); i++ {
			idx = append(idx, i)
		}
		x := rowsFloat64(s, idx)
		h := e.forward(x)
		xp := mat.NewDense(len(idx), dim, nil)
		for ri, r := range radii {
			xr, pr := x.RawMatrix(), xp.RawMatrix()
			for row, i := range idx {
				u := dirs[i*dim : (i+1)*dim]
				src := xr.Data[row*xr.Stride : row*xr.Stride+dim]
				dst := pr.Data[row*pr.Stride : row*pr.Stride+dim]
				for j := range dst {
					dst[j] = src[j] + r*u[j]
				}
			}
			hp := e.forward(xp)
			for row := range idx {
				d := mat.NewVecDense(e.codeDim(), nil)
				d.SubVec(h.RowView(row), hp.RowView(row))
				ratio := mat.Norm(d, 2) / r
				sum[ri] += ratio
				sum2[ri] += ratio * ratio
			}
		}
	}
	pts := make([]ContractionPoint, len(radii))
	for i, r := range radii {
		m := sum[i] / float64(n)
		pts[i] = ContractionPoint{Radius: r, Mean: m, Std: math.Sqrt(math.Max(sum2[i]/float64(n)-m*m, 0))}
	}
	return pts
}

// Saturation thresholds. A sigmoid unit with h < 0.05 or h > 0.95 has
// σ′ = h(1−h) < 0.0475, under a fifth of its peak 0.25; a tanh unit with
// |h| > 0.95 has tanh′ = 1−h² < 0.0975, under a tenth of its peak 1; a ReLU
// unit with h = 0 has derivative 0. These are the units through which the
// input barely reaches the code.
const (
	SigmoidSaturation = 0.05 // saturated: h < SigmoidSaturation or h > 1 − SigmoidSaturation
	TanhSaturation    = 0.95 // saturated: |h| > TanhSaturation
)

// Saturation summarises how many code units sit in their activation's flat
// region.
type Saturation struct {
	// Rule says what counts as saturated for the activation.
	Rule string `json:"saturation_rule"`
	// SaturatedFraction is the fraction of (sample, unit) code values that
	// are saturated (sigmoid, tanh) or zero (ReLU).
	SaturatedFraction float64 `json:"saturated_fraction"`
	// DeadUnitFraction is the fraction of code units saturated (or, for
	// ReLU, zero) on every evaluated sample: units that never respond.
	DeadUnitFraction float64 `json:"dead_unit_fraction"`
}

// CodeSaturation measures saturation over codes, row-major [n, width], of a
// code layer with activation act.
func CodeSaturation(act graph.Activation, codes []float32, width int) (Saturation, error) {
	if width <= 0 || len(codes) == 0 || len(codes)%width != 0 {
		return Saturation{}, fmt.Errorf("engine: %d code values do not make rows of %d", len(codes), width)
	}
	var flat func(h float32) bool
	var s Saturation
	switch act {
	case graph.Sigmoid:
		s.Rule = fmt.Sprintf("sigmoid: h < %g or h > %g", SigmoidSaturation, 1-SigmoidSaturation)
		flat = func(h float32) bool { return h < SigmoidSaturation || h > 1-SigmoidSaturation }
	case graph.Tanh:
		s.Rule = fmt.Sprintf("tanh: |h| > %g", TanhSaturation)
		flat = func(h float32) bool { return math.Abs(float64(h)) > TanhSaturation }
	case graph.ReLU:
		s.Rule = "relu: h = 0"
		flat = func(h float32) bool { return !(h > 0) }
	default:
		return Saturation{}, fmt.Errorf("engine: activation %q has no saturation rule", act)
	}
	n := len(codes) / width
	alive := make([]bool, width)
	count := 0
	for i, h := range codes {
		if flat(h) {
			count++
		} else {
			alive[i%width] = true
		}
	}
	dead := 0
	for _, a := range alive {
		if !a {
			dead++
		}
	}
	s.SaturatedFraction = float64(count) / float64(n*width)
	s.DeadUnitFraction = float64(dead) / float64(width)
	return s, nil
}
