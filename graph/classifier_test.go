// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// classifierSpecs covers every activation with one to three encoder layers.
func classifierSpecs() []ClassifierSpec {
	return []ClassifierSpec{
		{Arch: []int{6, 5}, Act: Sigmoid, Classes: 3},
		{Arch: []int{7, 5, 4}, Act: Tanh, Classes: 4},
		{Arch: []int{6, 5, 4, 3}, Act: ReLU, Classes: 3},
		{Arch: []int{9, 8}, Act: Sigmoid, Classes: 10},
	}
}

func randClassifier(t *testing.T, s ClassifierSpec, rng *rand.Rand) *ClassifierParams {
	t.Helper()
	p, err := NewClassifierParams(s, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	fillRand(p.Shapes, p.Tensors, rng)
	return p
}

// classRunner runs a classifier graph on Gorgonia's TapeMachine, the
// reference VM.
type classRunner struct {
	c  *Classifier
	vm G.VM
}

func newClassRunner(t *testing.T, p *ClassifierParams, batch int, grad bool) *classRunner {
	t.Helper()
	c, err := BuildClassifier(p, batch, Options{Grad: grad, Outputs: true})
	if err != nil {
		t.Fatal(err)
	}
	var opts []G.VMOpt
	if grad {
		opts = append(opts, G.BindDualValues(c.Learnables...))
	}
	return &classRunner{c: c, vm: G.NewTapeMachine(c.Graph, opts...)}
}

func (r *classRunner) run(t *testing.T, x, y, mask []float64) float64 {
	t.Helper()
	n := 0.0
	for _, v := range mask {
		n += v
	}
	c := r.c
	for _, in := range []struct {
		node *G.Node
		v    any
	}{
		{c.X, tensor.New(tensor.WithShape(c.Batch, c.Spec.Arch[0]), tensor.WithBacking(append([]float64(nil), x...)))},
		{c.Y, tensor.New(tensor.WithShape(c.Batch, c.Spec.Classes), tensor.WithBacking(append([]float64(nil), y...)))},
		{c.Mask, tensor.New(tensor.WithShape(c.Batch), tensor.WithBacking(append([]float64(nil), mask...)))},
		{c.InvN, 1 / n},
	} {
		if err := G.Let(in.node, in.v); err != nil {
			t.Fatal(err)
		}
	}
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	v, err := c.Value(c.Loss)
	if err != nil {
		t.Fatal(err)
	}
	return v.Data().(float64)
}

// refClassifierLoss is the network in plain Go: the encoder, the logits,
// and −log softmax of the label, averaged over the real rows.
func refClassifierLoss(p *ClassifierParams, x []float64, labels []int, mask []float64) float64 {
	s := p.Spec
	var sum, n float64
	for b, lab := range labels {
		a := x[b*s.Arch[0] : (b+1)*s.Arch[0]]
		for k := 0; k < s.Layers(); k++ {
			w, bias := p.Tensors[2*k].Data().([]float64), p.Tensors[2*k+1].Data().([]float64)
			in, out := s.Arch[k], s.Arch[k+1]
			next := make([]float64, out)
			for j := 0; j < out; j++ {
				z := bias[j]
				for i := 0; i < in; i++ {
					z += a[i] * w[i*out+j]
				}
				switch s.Act {
				case Sigmoid:
					next[j] = 1 / (1 + math.Exp(-z))
				case Tanh:
					next[j] = math.Tanh(z)
				case ReLU:
					next[j] = math.Max(z, 0)
				}
			}
			a = next
		}
		L := 2 * s.Layers()
		w, bias := p.Tensors[L].Data().([]float64), p.Tensors[L+1].Data().([]float64)
		h, C := s.Hidden(), s.Classes
		z := make([]float64, C)
		var den float64
		for j := 0; j < C; j++ {
			z[j] = bias[j]
			for i := 0; i < h; i++ {
				z[j] += a[i] * w[i*C+j]
			}
			den += math.Exp(z[j])
		}
		sum += mask[b] * -math.Log(math.Exp(z[lab])/den)
		n += mask[b]
	}
	return sum / n
}

func oneHot(labels []int, classes int) []float64 {
	y := make([]float64, len(labels)*classes)
	for b, l := range labels {
		y[b*classes+l] = 1
	}
	return y
}

// TestClassifierGradientsMatchCentralDifferences checks ∂loss/∂θ of the
// fine-tuning graph (encoder + softmax layer + cross-entropy, symbolic
// gradients from gorgonia.Grad, run on the TapeMachine) against central
// differences of the loss, in float64, with a padding row masked out, and
// its loss against the plain-Go network. Tolerances: the vector relative
// error 1e-6 is the CAE graph's (TestGradientsMatchCentralDifferences);
// central differences with h = 1e-6 are accurate to about 1e-9 here. The
// forward loss is exact up to summation order: 1e-10.
func TestClassifierGradientsMatchCentralDifferences(t *testing.T) {
	const batch, tol, h = 4, 1e-6, 1e-6
	for i, s := range classifierSpecs() {
		t.Run(fmt.Sprintf("%s-%v-%d", s.Act, s.Arch, s.Classes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 15))
			p := randClassifier(t, s, rng)
			x := randX(batch, s.Arch[0], rng)
			labels := make([]int, batch)
			for b := range labels {
				labels[b] = rng.IntN(s.Classes)
			}
			y := oneHot(labels, s.Classes)
			mask := []float64{1, 1, 0, 1}
			tr := newClassRunner(t, p, batch, true)
			got := tr.run(t, x, y, mask)
			if want := refClassifierLoss(p, x, labels, mask); relErr(got, want) > 1e-10 {
				t.Errorf("loss got %.15g, want %.15g (plain Go)", got, want)
			}
			var analytic [][]float64
			for _, n := range tr.c.Learnables {
				gv, err := n.Grad()
				if err != nil {
					t.Fatalf("%s: %v", n.Name(), err)
				}
				analytic = append(analytic, append([]float64(nil), gv.Data().([]float64)...))
			}
			fwd := newClassRunner(t, p, batch, false)
			loss := func() float64 { return fwd.run(t, x, y, mask) }
			checkGradients(t, &Params{Shapes: p.Shapes, Tensors: p.Tensors}, analytic, loss, h, tol)
		})
	}
}

// TestClassifierParamNames checks that the encoder's tensors are named and
// shaped as in the CAE's Params (so a CAE's weights can be copied by name),
// followed by the softmax layer.
func TestClassifierParamNames(t *testing.T) {
	for _, s := range []Spec{
		{Arch: []int{784, 1000}, Act: Sigmoid, OutAct: Sigmoid, Tied: true, Loss: BCE},
		{Arch: []int{784, 64, 32}, Act: ReLU, OutAct: Linear, Loss: SSE},
	} {
		cae := s.ParamShapes()
		cls := ClassifierOf(s, 10).ParamShapes()
		L := 2 * s.Layers()
		if len(cls) != L+2 {
			t.Fatalf("%v: %d classifier tensors, want %d", s.Arch, len(cls), L+2)
		}
		for i := 0; i < L; i++ {
			if cls[i].Name != cae[i].Name || fmt.Sprint(cls[i].Shape) != fmt.Sprint(cae[i].Shape) {
				t.Errorf("%v: tensor %d is %s %v, the CAE's is %s %v", s.Arch, i, cls[i].Name, cls[i].Shape, cae[i].Name, cae[i].Shape)
			}
		}
		h := s.Arch[len(s.Arch)-1]
		if cls[L].Name != "classifier.weight" || fmt.Sprint(cls[L].Shape) != fmt.Sprint([]int{h, 10}) ||
			cls[L+1].Name != "classifier.bias" || fmt.Sprint(cls[L+1].Shape) != "[10]" {
			t.Errorf("%v: softmax layer %s %v, %s %v; want classifier.weight [%d 10], classifier.bias [10]",
				s.Arch, cls[L].Name, cls[L].Shape, cls[L+1].Name, cls[L+1].Shape, h)
		}
	}
}

func TestClassifierSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    ClassifierSpec
		ok   bool
	}{
		{"ok", ClassifierSpec{Arch: []int{784, 1000}, Act: Sigmoid, Classes: 10}, true},
		{"one class", ClassifierSpec{Arch: []int{784, 1000}, Act: Sigmoid, Classes: 1}, false},
		{"no code", ClassifierSpec{Arch: []int{784}, Act: Sigmoid, Classes: 10}, false},
		{"linear", ClassifierSpec{Arch: []int{784, 10}, Act: Linear, Classes: 10}, false},
	} {
		if err := tc.s.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
