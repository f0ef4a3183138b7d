// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// CodeSet is a set of codes (or any feature vectors) with their labels.
type CodeSet struct {
	X      []float32 // row-major [N, Dim]
	Labels []uint8   // [N]
	N, Dim int
}

func (c CodeSet) check(what string) error {
	if c.N <= 0 || c.Dim <= 0 {
		return fmt.Errorf("engine: %s: no codes", what)
	}
	if len(c.X) != c.N*c.Dim || len(c.Labels) != c.N {
		return fmt.Errorf("engine: %s: %d values and %d labels for %d codes of %d values", what, len(c.X), len(c.Labels), c.N, c.Dim)
	}
	return nil
}

// Subsample returns n rows of s with their labels, drawn uniformly without
// replacement from a PCG stream of seed alone and kept in their original
// order; all of s (not a copy) if n ≤ 0 or n ≥ s.N.
func Subsample(s Samples, labels []uint8, n int, seed uint64) (Samples, []uint8) {
	if n <= 0 || n >= s.N {
		return s, labels
	}
	idx := SubsampleIndices(s.N, n, seed)
	out := Samples{X: make([]float32, 0, n*s.Dim), N: n, Dim: s.Dim}
	lab := make([]uint8, n)
	for r, i := range idx {
		out.X = append(out.X, s.Row(i)...)
		lab[r] = labels[i]
	}
	return out, lab
}

// SubsampleIndices returns the rows, in increasing order, that Subsample
// picks for n of total samples with seed (nil when it keeps them all).
func SubsampleIndices(total, n int, seed uint64) []int {
	if n <= 0 || n >= total {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x73756273616d706c)) // "subsampl"
	idx := rng.Perm(total)[:n]
	slices.Sort(idx)
	return idx
}

// ProbeOptions configure LinearProbe. Zero values take the defaults.
type ProbeOptions struct {
	L2      float64 // weight of (1/2)‖W‖² (weights only, not biases); default 1e-3
	MaxIter int     // L-BFGS iterations; default 100
}

// ProbeResult is a linear probe's outcome.
type ProbeResult struct {
	TrainAccuracy float64 `json:"train_accuracy"`
	TestAccuracy  float64 `json:"test_accuracy"`
	TrainN        int     `json:"train_n"`
	TestN         int     `json:"test_n"`
	L2            float64 `json:"l2"`
	Iterations    int     `json:"iterations"` // L-BFGS iterations taken
	Loss          float64 `json:"loss"`       // final training objective (mean cross-entropy + L2 term)
	Status        string  `json:"status"`     // why L-BFGS stopped
}

// LinearProbe fits a multinomial logistic regression to the train codes
// and reports its accuracy on train and test. Each code dimension is
// standardised with the training set's mean and standard deviation
// (dimensions constant on the training set are set to zero). The objective,
// mean cross-entropy + (L2/2)‖W‖², is minimised by L-BFGS (gonum/optimize)
// from zero weights, in float64 on the full training set: the result is
// deterministic.
func LinearProbe(train, test CodeSet, opt ProbeOptions) (ProbeResult, error) {
	if err := train.check("probe training set"); err != nil {
		return ProbeResult{}, err
	}
	if err := test.check("probe test set"); err != nil {
		return ProbeResult{}, err
	}
	if train.Dim != test.Dim {
		return ProbeResult{}, fmt.Errorf("engine: probe: training codes have %d values, test codes %d", train.Dim, test.Dim)
	}
	if opt.L2 == 0 {
		opt.L2 = 1e-3
	}
	if opt.MaxIter == 0 {
		opt.MaxIter = 100
	}
	if !(opt.L2 >= 0) || opt.MaxIter < 0 {
		return ProbeResult{}, fmt.Errorf("engine: probe: L2 %v and iterations %d must not be negative", opt.L2, opt.MaxIter)
	}
	classes := int(max(slices.Max(train.Labels), slices.Max(test.Labels))) + 1
	d := train.Dim

	// Standardise with the training statistics.
	mean := make([]float64, d)
	scale := make([]float64, d)
	for i := 0; i < train.N; i++ {
		for j, v := range train.X[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(train.N)
	}
	for i := 0; i < train.N; i++ {
		for j, v := range train.X[i*d : (i+1)*d] {
			dv := float64(v) - mean[j]
			scale[j] += dv * dv
		}
	}
	for j := range scale {
		sd := math.Sqrt(scale[j] / float64(train.N))
		if sd > 1e-6 {
			scale[j] = 1 / sd
		} else {
			scale[j] = 0
		}
	}
	standard := func(c CodeSet) *mat.Dense {
		x := mat.NewDense(c.N, d, nil)
		raw := x.RawMatrix().Data
		for i, v := range c.X {
			j := i % d
			raw[i] = (float64(v) - mean[j]) * scale[j]
		}
		return x
	}
	xtr, xte := standard(train), standard(test)

	nw := d * classes
	logits := mat.NewDense(train.N, classes, nil)
	var lastX, lastG []float64
	var lastF float64
	eval := func(x []float64) (float64, []float64) {
		if lastX != nil && floats.Equal(x, lastX) {
			return lastF, lastG
		}
		w := mat.NewDense(d, classes, x[:nw])
		b := x[nw:]
		logits.Mul(xtr, w)
		raw := logits.RawMatrix()
		f := 0.0
		inv := 1 / float64(train.N)
		for i := 0; i < train.N; i++ {
			row := raw.Data[i*raw.Stride : i*raw.Stride+classes]
			for c := range row {
				row[c] += b[c]
			}
			lse := floats.LogSumExp(row)
			f -= row[train.Labels[i]] - lse
			for c := range row { // row becomes (softmax − onehot)/n
				row[c] = math.Exp(row[c]-lse) * inv
			}
			row[train.Labels[i]] -= inv
		}
		f *= inv
		g := make([]float64, len(x))
		gw := mat.NewDense(d, classes, g[:nw])
		gw.Mul(xtr.T(), logits)
		for i := 0; i < train.N; i++ {
			floats.Add(g[nw:], raw.Data[i*raw.Stride:i*raw.Stride+classes])
		}
		f += opt.L2 / 2 * floats.Dot(x[:nw], x[:nw])
		floats.AddScaled(g[:nw], opt.L2, x[:nw])
		lastX, lastF, lastG = append(lastX[:0], x...), f, g
		return f, g
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { f, _ := eval(x); return f },
		Grad: func(grad, x []float64) { _, g := eval(x); copy(grad, g) },
	}
	x0 := make([]float64, nw+classes)
	res, err := optimize.Minimize(prob, x0, &optimize.Settings{
		MajorIterations:   opt.MaxIter,
		GradientThreshold: 1e-6,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-9, Relative: 1e-9, Iterations: 20},
	}, &optimize.LBFGS{})
	if res == nil {
		return ProbeResult{}, fmt.Errorf("engine: probe: %w", err)
	}
	// A line search that can make no more progress near the optimum ends
	// with an error but a usable location.
	if res.X == nil || !finiteAll(res.X) {
		return ProbeResult{}, fmt.Errorf("engine: probe: the optimizer failed: %v", errors.Join(err, errors.New(res.Status.String())))
	}
	w := mat.NewDense(d, classes, res.X[:nw])
	b := res.X[nw:]
	accuracy := func(x *mat.Dense, labels []uint8) float64 {
		n, _ := x.Dims()
		var l mat.Dense
		l.Mul(x, w)
		right := 0
		for i := 0; i < n; i++ {
			row := l.RawRowView(i)
			floats.Add(row, b)
			if floats.MaxIdx(row) == int(labels[i]) {
				right++
			}
		}
		return float64(right) / float64(n)
	}
	return ProbeResult{
		TrainAccuracy: accuracy(xtr, train.Labels),
		TestAccuracy:  accuracy(xte, test.Labels),
		TrainN:        train.N,
		TestN:         test.N,
		L2:            opt.L2,
		Iterations:    res.Stats.MajorIterations,
		Loss:          res.F,
		Status:        res.Status.String(),
	}, nil
}

// KNNAccuracy classifies each query code by a majority vote of its k
// nearest reference codes (Euclidean distance; among equally distant
// references the earlier one is nearer) and returns the fraction classified
// correctly. A tied vote goes to the tied class whose member is nearest.
// Distances come from float32 matrix products (‖r‖² − 2 q·r), spread over
// GOMAXPROCS workers; the result does not depend on their number.
func KNNAccuracy(ref, query CodeSet, k int) (float64, error) {
	if err := ref.check("kNN reference set"); err != nil {
		return 0, err
	}
	if err := query.check("kNN query set"); err != nil {
		return 0, err
	}
	if ref.Dim != query.Dim {
		return 0, fmt.Errorf("engine: kNN: reference codes have %d values, query codes %d", ref.Dim, query.Dim)
	}
	if k <= 0 || k > ref.N {
		return 0, fmt.Errorf("engine: kNN: k = %d must lie in [1, %d], the number of reference codes", k, ref.N)
	}
	d := ref.Dim
	norm := make([]float32, ref.N)
	for i := range norm {
		var s float32
		for _, v := range ref.X[i*d : (i+1)*d] {
			s += v * v
		}
		norm[i] = s
	}
	const chunk = 256
	chunks := (query.N + chunk - 1) / chunk
	right := make([]int, chunks)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dots := make([]float32, chunk*ref.N)
			best := make([]int, k)
			bestD := make([]float32, k)
			votes := make([]int, 256)
			for c := range next {
				lo, hi := c*chunk, min((c+1)*chunk, query.N)
				m := hi - lo
				blas32.Implementation().Sgemm(blas.NoTrans, blas.Trans, m, ref.N, d,
					1, query.X[lo*d:hi*d], d, ref.X, d, 0, dots, ref.N)
				for q := 0; q < m; q++ {
					row := dots[q*ref.N : (q+1)*ref.N]
					found := 0
					for j, dot := range row {
						dist := norm[j] - 2*dot
						if found == k && !(dist < bestD[k-1]) {
							continue
						}
						// Insert j, keeping best sorted by distance then index.
						p := min(found, k-1)
						for p > 0 && dist < bestD[p-1] {
							best[p], bestD[p] = best[p-1], bestD[p-1]
							p--
						}
						best[p], bestD[p] = j, dist
						if found < k {
							found++
						}
					}
					clear(votes)
					top := 0
					for _, j := range best[:found] {
						votes[ref.Labels[j]]++
						top = max(top, votes[ref.Labels[j]])
					}
					var label uint8
					for _, j := range best[:found] { // nearest first
						if votes[ref.Labels[j]] == top {
							label = ref.Labels[j]
							break
						}
					}
					if label == query.Labels[lo+q] {
						right[c]++
					}
				}
			}
		}()
	}
	for c := 0; c < chunks; c++ {
		next <- c
	}
	close(next)
	wg.Wait()
	total := 0
	for _, r := range right {
		total += r
	}
	return float64(total) / float64(query.N), nil
}

func finiteAll(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
