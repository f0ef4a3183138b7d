// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// blobs returns n codes of dim values in 3 Gaussian clusters (σ = 1) whose
// centres are sep apart along the first three axes, labelled by cluster.
// The last dimension is constant, which standardisation must survive.
func blobs(n, dim int, sep float64, seed uint64) CodeSet {
	rng := rand.New(rand.NewPCG(seed, 3))
	c := CodeSet{X: make([]float32, n*dim), Labels: make([]uint8, n), N: n, Dim: dim}
	for i := 0; i < n; i++ {
		l := i % 3
		c.Labels[i] = uint8(l)
		for j := 0; j < dim; j++ {
			v := rng.NormFloat64()
			if j == l {
				v += sep
			}
			if j == dim-1 {
				v = 0.25
			}
			c.X[i*dim+j] = float32(v)
		}
	}
	return c
}

func TestLinearProbe(t *testing.T) {
	tests := []struct {
		name     string
		sep      float64
		min, max float64 // expected test accuracy range
	}{
		// Centres 8σ apart: the Bayes error is about 2·Φ(−8/√2·…) < 1e-6;
		// a linear classifier separates them.
		{"separable", 8, 0.99, 1},
		// Identical clusters: nothing to learn, chance is 1/3; 600 test
		// points give a standard error of 0.02.
		{"no signal", 0, 0.23, 0.44},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			train, test := blobs(900, 6, tc.sep, 1), blobs(600, 6, tc.sep, 2)
			res, err := LinearProbe(train, test, ProbeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.TestAccuracy < tc.min || res.TestAccuracy > tc.max {
				t.Errorf("test accuracy %v, want in [%v, %v] (%+v)", res.TestAccuracy, tc.min, tc.max, res)
			}
			if res.TrainN != 900 || res.TestN != 600 || res.Iterations == 0 {
				t.Errorf("result %+v", res)
			}
			again, err := LinearProbe(train, test, ProbeOptions{})
			if err != nil || again != res {
				t.Errorf("not deterministic: %+v then %+v (%v)", res, again, err)
			}
		})
	}
}

func TestLinearProbeErrors(t *testing.T) {
	good := blobs(30, 4, 3, 1)
	if _, err := LinearProbe(good, blobs(30, 5, 3, 1), ProbeOptions{}); err == nil {
		t.Error("codes of different widths were accepted")
	}
	if _, err := LinearProbe(CodeSet{}, good, ProbeOptions{}); err == nil {
		t.Error("an empty training set was accepted")
	}
	bad := good
	bad.Labels = bad.Labels[:10]
	if _, err := LinearProbe(good, bad, ProbeOptions{}); err == nil {
		t.Error("a label count that does not match was accepted")
	}
}

func TestKNNAccuracy(t *testing.T) {
	// One-dimensional references: class 0 at 0,1,2 and class 1 at 10,11,12.
	ref := CodeSet{X: []float32{0, 1, 2, 10, 11, 12}, Labels: []uint8{0, 0, 0, 1, 1, 1}, N: 6, Dim: 1}
	tests := []struct {
		q     float32
		k     int
		label uint8 // the right answer, worked out by hand
	}{
		{0.5, 3, 0},  // 0,1,2
		{10.5, 3, 1}, // 10,11,12
		{6.1, 3, 1},  // 10 (3.9), 2 (4.1), 11 (4.9): two votes for 1
		{5.9, 3, 0},  // 2 (3.9), 10 (4.1), 1 (4.9)
		{6.5, 2, 1},  // 10 (3.5), 2 (4.5): a tie, the nearest wins
		{5.5, 2, 0},  // 2 (3.5), 10 (4.5)
		{6, 1, 0},    // 2 and 10 both at 4: the earlier reference is nearer
		{100, 6, 1},  // all six: a 3–3 tie, and the nearest (12) is class 1
	}
	for _, tc := range tests {
		for _, want := range []uint8{tc.label, 1 - tc.label} {
			q := CodeSet{X: []float32{tc.q}, Labels: []uint8{want}, N: 1, Dim: 1}
			acc, err := KNNAccuracy(ref, q, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			if right := want == tc.label; (acc == 1) != right {
				t.Errorf("query %v, k=%d, label %d: accuracy %v, the right label is %d", tc.q, tc.k, want, acc, tc.label)
			}
		}
	}
	if _, err := KNNAccuracy(ref, CodeSet{X: []float32{1}, Labels: []uint8{0}, N: 1, Dim: 1}, 7); err == nil {
		t.Error("k larger than the reference set was accepted")
	}
}

// TestKNNAccuracyManyQueries: more queries than one chunk, on clusters a
// 5-NN separates, and the same answer whatever the number of workers.
func TestKNNAccuracyManyQueries(t *testing.T) {
	ref, q := blobs(600, 5, 8, 1), blobs(700, 5, 8, 2)
	acc, err := KNNAccuracy(ref, q, 5)
	if err != nil {
		t.Fatal(err)
	}
	// 8σ apart: essentially no errors (see TestLinearProbe).
	if acc < 0.99 {
		t.Errorf("5-NN accuracy %v on separated clusters", acc)
	}
	q.Labels = slices.Clone(q.Labels)
	for i := 0; i < 70; i++ {
		q.Labels[i] = (q.Labels[i] + 1) % 3
	}
	acc2, _ := KNNAccuracy(ref, q, 5)
	if d := acc - acc2; d < 0.099 || d > 0.101 {
		t.Errorf("relabelling a tenth of the queries changed the accuracy from %v to %v", acc, acc2)
	}
}

func TestSubsample(t *testing.T) {
	s := Samples{X: make([]float32, 20*3), N: 20, Dim: 3}
	labels := make([]uint8, 20)
	for i := 0; i < 20; i++ {
		labels[i] = uint8(i)
		for j := 0; j < 3; j++ {
			s.X[i*3+j] = float32(i)
		}
	}
	sub, lab := Subsample(s, labels, 7, 5)
	if sub.N != 7 || len(sub.X) != 21 || len(lab) != 7 {
		t.Fatalf("Subsample gave %d rows, %d values, %d labels", sub.N, len(sub.X), len(lab))
	}
	for i := 0; i < 7; i++ {
		if sub.Row(i)[0] != float32(lab[i]) || (i > 0 && lab[i] <= lab[i-1]) {
			t.Errorf("row %d (%v) and label %d do not match or are out of order", i, sub.Row(i), lab[i])
		}
	}
	again, _ := Subsample(s, labels, 7, 5)
	if !slices.Equal(again.X, sub.X) {
		t.Error("the same seed gave different rows")
	}
	if all, l := Subsample(s, labels, 0, 5); all.N != 20 || len(l) != 20 {
		t.Error("n = 0 should keep every row")
	}
}
