// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/safetensors"
)

// mioTrain builds a trainer for c and takes steps optimizer steps of
// c.Batch rows each over synthetic data, so that no parameter (biases
// included) is left at its initial value.
func mioTrain(t *testing.T, c Config, steps int) *Trainer {
	t.Helper()
	tr := newTestTrainer(t, c)
	data := synth(steps*c.Batch, c.Spec.Arch[0], 11)
	for s := 0; s < steps; s++ {
		idx := make([]int, c.Batch)
		for i := range idx {
			idx[i] = s*c.Batch + i
		}
		if _, err := tr.Step(data, idx); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// mioWantTensors is what model.safetensors promises for spec, written out
// from the format's description rather than from graph.ParamShapes: names
// encoder.{k}.weight/bias and decoder.{k}.weight/bias in data-flow order,
// weights [out, in], no decoder weights when tied.
func mioWantTensors(s graph.Spec) map[string][]int {
	a := s.Arch
	L := len(a) - 1
	want := map[string][]int{}
	for k := 0; k < L; k++ {
		want[fmt.Sprintf("encoder.%d.weight", k)] = []int{a[k+1], a[k]}
		want[fmt.Sprintf("encoder.%d.bias", k)] = []int{a[k+1]}
	}
	for k := 0; k < L; k++ {
		in, out := a[L-k], a[L-k-1]
		if !s.Tied {
			want[fmt.Sprintf("decoder.%d.weight", k)] = []int{out, in}
		}
		want[fmt.Sprintf("decoder.%d.bias", k)] = []int{out}
	}
	return want
}

// mioSpecs are the configurations the save/load tests cover: relu and
// sigmoid encoders, tied and untied.
func mioSpecs() map[string]Config {
	m := map[string]Config{}
	for _, act := range []graph.Activation{graph.ReLU, graph.Sigmoid} {
		for _, tied := range []bool{false, true} {
			m[fmt.Sprintf("%s tied=%v", act, tied)] = smallConfig(act, tied)
		}
	}
	c := smallConfig(graph.Sigmoid, true)
	c.Spec.Arch = []int{20, 9}
	m["sigmoid tied one layer"] = c
	return m
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for name, c := range mioSpecs() {
		t.Run(name, func(t *testing.T) {
			tr := mioTrain(t, c, 3)
			mc := NewModelConfig(c)
			// Fill every field, so each one's round trip is checked.
			mc.Preset, mc.Steps, mc.Data = "test-preset", tr.Steps(), "synthetic"
			mc.Device, mc.Version = "cpu", "v0.0.0-test"
			dir := t.TempDir()
			before := paramsCopy(tr)
			if err := SaveModel(dir, tr.Params, mc); err != nil {
				t.Fatal(err)
			}
			for i, v := range paramsCopy(tr) {
				if !slices.Equal(v, before[i]) {
					t.Fatalf("SaveModel changed %s", tr.Params.Shapes[i].Name)
				}
			}

			p, got, err := LoadModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, mc) {
				t.Errorf("config round trip:\n got %+v\nwant %+v", got, mc)
			}
			if got.Dtype != "float32" || got.Layout != "[out,in]" {
				t.Errorf("config says dtype %q, weight_layout %q; want float32, [out,in]", got.Dtype, got.Layout)
			}
			if fmt.Sprint(p.Spec) != fmt.Sprint(c.Spec) {
				t.Errorf("loaded spec %+v, want %+v", p.Spec, c.Spec)
			}
			if len(p.Tensors) != len(tr.Params.Tensors) {
				t.Fatalf("loaded %d tensors, want %d", len(p.Tensors), len(tr.Params.Tensors))
			}
			for i, ps := range tr.Params.Shapes {
				if p.Shapes[i].Name != ps.Name || !slices.Equal(p.Shapes[i].Shape, ps.Shape) {
					t.Fatalf("tensor %d: loaded %s %v, want %s %v", i, p.Shapes[i].Name, p.Shapes[i].Shape, ps.Name, ps.Shape)
				}
				if !slices.Equal([]int(p.Tensors[i].Shape()), ps.Shape) {
					t.Errorf("%s: loaded tensor has shape %v, want %v", ps.Name, p.Tensors[i].Shape(), ps.Shape)
				}
				gv, ok := p.Tensors[i].Data().([]float32)
				if !ok {
					t.Fatalf("%s: loaded as %T, want []float32", ps.Name, p.Tensors[i].Data())
				}
				for j, w := range before[i] {
					if math.Float32bits(gv[j]) != math.Float32bits(w) {
						t.Fatalf("%s[%d]: loaded %v, saved %v", ps.Name, j, gv[j], w)
					}
				}
			}

			// The file itself, read without engine: exactly the promised
			// names, shapes and dtype, with weights stored transposed.
			f, err := safetensors.ReadFile(filepath.Join(dir, ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			want := mioWantTensors(c.Spec)
			if len(f.Tensors) != len(want) {
				var names []string
				for _, ft := range f.Tensors {
					names = append(names, ft.Name)
				}
				t.Errorf("file holds %d tensors %v, want %d", len(f.Tensors), names, len(want))
			}
			for _, ft := range f.Tensors {
				shape, ok := want[ft.Name]
				if !ok {
					t.Errorf("unexpected tensor %q in %s", ft.Name, ModelFile)
					continue
				}
				if !slices.Equal(ft.Shape, shape) || ft.DType != "F32" {
					t.Errorf("tensor %q is %s %v, want F32 %v", ft.Name, ft.DType, ft.Shape, shape)
				}
			}
			for name := range want {
				if _, ok := f.Get(name); !ok {
					t.Errorf("tensor %q missing from %s", name, ModelFile)
				}
			}
			if c.Spec.Tied {
				for _, ft := range f.Tensors {
					if strings.HasPrefix(ft.Name, "decoder.") && strings.HasSuffix(ft.Name, ".weight") {
						t.Errorf("tied model stores %q", ft.Name)
					}
				}
			}
			// Element check of the [out, in] layout: file[o][i] == graph[i][o].
			for i, ps := range tr.Params.Shapes {
				ft, ok := f.Get(ps.Name)
				if !ok {
					continue
				}
				v, err := ft.Float32()
				if err != nil {
					t.Fatal(err)
				}
				if len(ps.Shape) == 1 {
					if !slices.Equal(v, before[i]) {
						t.Errorf("%s: file values differ from the parameters", ps.Name)
					}
					continue
				}
				in, out := ps.Shape[0], ps.Shape[1]
				for r := 0; r < in; r++ {
					for o := 0; o < out; o++ {
						if v[o*in+r] != before[i][r*out+o] {
							t.Fatalf("%s: file[%d][%d] = %v, parameter [in=%d][out=%d] = %v", ps.Name, o, r, v[o*in+r], r, o, before[i][r*out+o])
						}
					}
				}
			}
			if f.Metadata["format"] != "pt" {
				t.Errorf("metadata %v: want format pt", f.Metadata)
			}

			// The same graph on the same weights gives the same numbers.
			test := synth(30, c.Spec.Arch[0], 12)
			ev, err := NewEvaluator(p)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			a, err := tr.Evaluate(test, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ev.Evaluate(test, 0)
			if err != nil {
				t.Fatal(err)
			}
			if a != b {
				t.Errorf("evaluation before save %+v, after load %+v", a, b)
			}
		})
	}
}

// mioRef is a plain float64 contractive autoencoder built from
// model.safetensors alone: every weight [out, in], as stored.
type mioRef struct {
	arch        []int
	act, outAct string
	loss        string
	encW, encB  [][]float64 // layer k: [arch[k+1], arch[k]], [arch[k+1]]
	decW, decB  [][]float64 // layer k: [arch[L-k-1], arch[L-k]], [arch[L-k-1]]
}

func mioF64(t *testing.T, f *safetensors.File, name string, shape ...int) []float64 {
	t.Helper()
	ft, ok := f.Get(name)
	if !ok {
		t.Fatalf("%s: missing", name)
	}
	if !slices.Equal(ft.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, ft.Shape, shape)
	}
	v, err := ft.Float32()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// mioLoadRef reads dir/model.safetensors for the architecture in c.
func mioLoadRef(t *testing.T, dir string, c Config) *mioRef {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Spec
	a := s.Arch
	L := len(a) - 1
	r := &mioRef{arch: a, act: string(s.Act), outAct: string(s.OutAct), loss: string(s.Loss)}
	for k := 0; k < L; k++ {
		r.encW = append(r.encW, mioF64(t, f, fmt.Sprintf("encoder.%d.weight", k), a[k+1], a[k]))
		r.encB = append(r.encB, mioF64(t, f, fmt.Sprintf("encoder.%d.bias", k), a[k+1]))
	}
	for k := 0; k < L; k++ {
		in, out := a[L-k], a[L-k-1]
		var w []float64
		if s.Tied {
			// Decoder layer k uses encoder weight L−1−k transposed: that
			// weight is stored [in, out] from this layer's point of view.
			e := r.encW[L-1-k]
			w = make([]float64, out*in)
			for i := 0; i < in; i++ {
				for o := 0; o < out; o++ {
					w[o*in+i] = e[i*out+o]
				}
			}
		} else {
			w = mioF64(t, f, fmt.Sprintf("decoder.%d.weight", k), out, in)
		}
		r.decW = append(r.decW, w)
		r.decB = append(r.decB, mioF64(t, f, fmt.Sprintf("decoder.%d.bias", k), out))
	}
	return r
}

func mioAct(name string, z float64) float64 {
	switch name {
	case "sigmoid":
		return 1 / (1 + math.Exp(-z))
	case "tanh":
		return math.Tanh(z)
	case "relu":
		return math.Max(z, 0)
	case "linear":
		return z
	}
	panic("unknown activation " + name)
}

// mioLayer is φ(W x + b) for W [out, in]; pattern, if not nil, gets the
// sign of every pre-activation appended.
func mioLayer(w, b, x []float64, act string, pattern *[]bool) []float64 {
	out := len(b)
	in := len(x)
	a := make([]float64, out)
	for o := 0; o < out; o++ {
		z := b[o]
		for i := 0; i < in; i++ {
			z += w[o*in+i] * x[i]
		}
		if pattern != nil {
			*pattern = append(*pattern, z > 0)
		}
		a[o] = mioAct(act, z)
	}
	return a
}

func (r *mioRef) encode(x []float64, pattern *[]bool) []float64 {
	for k := range r.encW {
		x = mioLayer(r.encW[k], r.encB[k], x, r.act, pattern)
	}
	return x
}

// recon is the reconstruction loss of x, straight from the definitions.
func (r *mioRef) recon(x []float64) float64 {
	a := r.encode(x, nil)
	L := len(r.decW)
	for k := 0; k < L; k++ {
		act := r.act
		if k == L-1 {
			act = r.outAct
		}
		a = mioLayer(r.decW[k], r.decB[k], a, act, nil)
	}
	sum := 0.0
	for i, ri := range a {
		switch r.loss {
		case "sse":
			sum += (ri - x[i]) * (ri - x[i])
		case "bce":
			sum += -x[i]*math.Log(ri) - (1-x[i])*math.Log(1-ri)
		default:
			panic("unknown loss " + r.loss)
		}
	}
	return sum
}

// jacobianFro2 is ‖∂h/∂x‖²_F by central differences. ok is false when a
// ReLU changes sides within the step, where differences are not the
// derivative the model defines.
func (r *mioRef) jacobianFro2(x []float64, h float64) (fro2 float64, ok bool) {
	var base []bool
	r.encode(x, &base)
	xp := slices.Clone(x)
	for i := range x {
		var pp, pm []bool
		xp[i] = x[i] + h
		cp := r.encode(xp, &pp)
		xp[i] = x[i] - h
		cm := r.encode(xp, &pm)
		xp[i] = x[i]
		if r.act == "relu" && (!slices.Equal(pp, base) || !slices.Equal(pm, base)) {
			return 0, false
		}
		for j := range cp {
			d := (cp[j] - cm[j]) / (2 * h)
			fro2 += d * d
		}
	}
	return fro2, true
}

func mioRow64(s Samples, i int) []float64 {
	row := s.Row(i)
	x := make([]float64, len(row))
	for j, v := range row {
		x[j] = float64(v)
	}
	return x
}

func mioRel(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
}

// TestEvaluateAgreesWithIndependentJacobian checks Evaluator.Evaluate on a
// saved and reloaded model against a float64 reference that reads
// model.safetensors directly and uses neither graph, engine nor Gorgonia
// for the math: the encoder and decoder from the stored [out, in] weights,
// the code's Jacobian by central finite differences (step 1e-4 in float64;
// truncation error ~1e-8 relative, and exact for ReLU away from its kink),
// and the reconstruction loss from its definition.
//
// The graph runs in float32 and the reference in float64 on the same
// float32 weights and inputs, so they differ by float32 rounding, ~1e-6
// relative; the tolerance is 1e-4.
func TestEvaluateAgreesWithIndependentJacobian(t *testing.T) {
	const (
		tol  = 1e-4
		step = 1e-4
	)
	cases := map[string]Config{}
	{
		c := smallConfig(graph.ReLU, false) // [20 12 6], linear out, SSE
		c.Adam.LR = 1e-2
		cases["relu untied sse [20 12 6]"] = c
	}
	{
		c := smallConfig(graph.Sigmoid, true) // sigmoid out, BCE
		c.Spec.Arch = []int{20, 9}
		c.Adam.LR = 1e-2
		cases["sigmoid tied bce [20 9]"] = c
	}
	{
		c := smallConfig(graph.Tanh, true)
		c.Adam.LR = 1e-2
		cases["tanh tied bce [20 12 6]"] = c
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tr := mioTrain(t, c, 5)
			dir := t.TempDir()
			if err := SaveModel(dir, tr.Params, NewModelConfig(c)); err != nil {
				t.Fatal(err)
			}
			ref := mioLoadRef(t, dir, c)

			// Keep the candidate samples whose finite differences are
			// valid (for ReLU: no unit switches within ±step).
			cand := synth(60, c.Spec.Arch[0], 13)
			var keep Samples
			keep.Dim = cand.Dim
			var recon, fro, fro2 []float64
			for i := 0; i < cand.N; i++ {
				x := mioRow64(cand, i)
				j2, ok := ref.jacobianFro2(x, step)
				if !ok {
					continue
				}
				keep.X = append(keep.X, cand.Row(i)...)
				keep.N++
				recon = append(recon, ref.recon(x))
				fro2 = append(fro2, j2)
				fro = append(fro, math.Sqrt(j2))
			}
			if keep.N < 40 {
				t.Fatalf("only %d of %d samples usable for finite differences", keep.N, cand.N)
			}
			mean := func(v []float64) float64 {
				s := 0.0
				for _, x := range v {
					s += x
				}
				return s / float64(len(v))
			}
			wantRecon, wantFro, wantFro2 := mean(recon), mean(fro), mean(fro2)
			if !(wantFro2 > 1e-3) || !(wantRecon > 1e-3) {
				t.Fatalf("reference is degenerate: recon %v, ‖J‖²_F %v", wantRecon, wantFro2)
			}

			p, _, err := LoadModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := NewEvaluator(p)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()

			res, err := ev.Evaluate(keep, keep.N)
			if err != nil {
				t.Fatal(err)
			}
			if res.N != keep.N {
				t.Errorf("N = %d, want %d", res.N, keep.N)
			}
			for _, q := range []struct {
				what      string
				got, want float64
			}{
				{"mean recon", res.Recon, wantRecon},
				{"mean ‖J‖_F", res.JacobianFro, wantFro},
				{"mean ‖J‖²_F", res.JacobianFro2, wantFro2},
				{"mean loss", res.Loss, wantRecon + c.Spec.Lambda*wantFro2},
			} {
				if e := mioRel(q.got, q.want); !(e <= tol) {
					t.Errorf("%s: Evaluate %.9g, float64 reference %.9g (relative error %.2g)", q.what, q.got, q.want, e)
				} else {
					t.Logf("%s: Evaluate %.9g, reference %.9g, relative error %.2g", q.what, q.got, q.want, e)
				}
			}

			// N is the number of samples evaluated.
			for _, n := range []struct{ ask, want int }{{10, 10}, {1, 1}, {0, keep.N}, {-3, keep.N}, {keep.N + 100, keep.N}} {
				r, err := ev.Evaluate(keep, n.ask)
				if err != nil {
					t.Fatal(err)
				}
				if r.N != n.want {
					t.Errorf("Evaluate(n=%d) over %d samples: N = %d, want %d", n.ask, keep.N, r.N, n.want)
				}
			}

			// n = 7 in a batch of EvalBatch = 500 (493 padding rows) is the
			// mean of the per-sample values, from the graph one sample at a
			// time and from the reference.
			const n7 = 7
			r7, err := ev.Evaluate(keep, n7)
			if err != nil {
				t.Fatal(err)
			}
			if r7.N != n7 {
				t.Errorf("N = %d, want %d", r7.N, n7)
			}
			var one EvalResult
			for i := 0; i < n7; i++ {
				r1, err := ev.Evaluate(Samples{X: keep.Row(i), N: 1, Dim: keep.Dim}, 0)
				if err != nil {
					t.Fatal(err)
				}
				if r1.N != 1 {
					t.Errorf("single sample: N = %d", r1.N)
				}
				one.Recon += r1.Recon / n7
				one.JacobianFro += r1.JacobianFro / n7
				one.JacobianFro2 += r1.JacobianFro2 / n7
			}
			for _, q := range []struct {
				what           string
				got, one, want float64
			}{
				{"recon", r7.Recon, one.Recon, mean(recon[:n7])},
				{"‖J‖_F", r7.JacobianFro, one.JacobianFro, mean(fro[:n7])},
				{"‖J‖²_F", r7.JacobianFro2, one.JacobianFro2, mean(fro2[:n7])},
			} {
				// Same float32 per-sample values, summed in float64: only
				// the order of the float64 sums may differ.
				if e := mioRel(q.got, q.one); !(e <= 1e-12) {
					t.Errorf("n=7 mean %s: %.12g, mean of single-sample evaluations %.12g", q.what, q.got, q.one)
				}
				if e := mioRel(q.got, q.want); !(e <= tol) {
					t.Errorf("n=7 mean %s: %.9g, reference %.9g (relative error %.2g)", q.what, q.got, q.want, e)
				}
			}
		})
	}
}

func TestLoadModelErrors(t *testing.T) {
	readTensors := func(t *testing.T, dir string) []safetensors.Tensor {
		t.Helper()
		f, err := safetensors.ReadFile(filepath.Join(dir, ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		return f.Tensors
	}
	writeTensors := func(t *testing.T, dir string, ts []safetensors.Tensor) {
		t.Helper()
		if err := safetensors.WriteFile(filepath.Join(dir, ModelFile), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	// editTensor replaces the tensor called name by edit's result.
	editTensor := func(name string, edit func(safetensors.Tensor) safetensors.Tensor) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			ts := readTensors(t, dir)
			found := false
			for i := range ts {
				if ts[i].Name == name {
					ts[i] = edit(ts[i])
					found = true
				}
			}
			if !found {
				t.Fatalf("no tensor %q to edit", name)
			}
			writeTensors(t, dir, ts)
		}
	}
	writeConfig := func(body string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	editConfig := func(edit func(map[string]any)) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			js, _ := json.Marshal(m)
			writeConfig(string(js))(t, dir)
		}
	}

	cases := []struct {
		name   string
		tied   bool
		mutate func(t *testing.T, dir string) // on a good model in dir
		sub    string                         // a subdirectory to load instead of dir
		file   string                         // the file the error must name
		want   []string                       // further substrings the error must hold
	}{
		{name: "missing directory", sub: "nope", file: ConfigFile},
		{
			name: "missing config.json", file: ConfigFile,
			mutate: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ConfigFile)) },
		},
		{name: "config.json truncated JSON", file: ConfigFile, mutate: writeConfig(`{"arch": [20, 12, 6], "act": "re`)},
		{name: "config.json not an object", file: ConfigFile, mutate: writeConfig(`[1, 2, 3]`)},
		{name: "config.json empty", file: ConfigFile, mutate: writeConfig(``)},
		{name: "config.json bad act", file: ConfigFile, want: []string{"gelu"}, mutate: editConfig(func(m map[string]any) { m["act"] = "gelu" })},
		{name: "config.json arch of one width", file: ConfigFile, want: []string{"arch"}, mutate: editConfig(func(m map[string]any) { m["arch"] = []int{20} })},
		{name: "config.json arch wrong type", file: ConfigFile, mutate: editConfig(func(m map[string]any) { m["arch"] = "20,12,6" })},
		{name: "config.json unknown key", file: ConfigFile, want: []string{"lamda"}, mutate: editConfig(func(m map[string]any) { m["lamda"] = 0.5 })},
		{name: "config.json float64 dtype", file: ConfigFile, want: []string{"float64"}, mutate: editConfig(func(m map[string]any) { m["dtype"] = "float64" })},
		{
			name: "config.json trailing junk", file: ConfigFile, want: []string{"after the JSON"},
			mutate: func(t *testing.T, dir string) {
				raw, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
				writeConfig(string(raw)+"garbage {")(t, dir)
			},
		},
		{
			name: "config.json from another model", file: ModelFile, want: []string{"do not belong together"},
			mutate: editConfig(func(m map[string]any) { m["lambda"] = 3.5 }),
		},
		{name: "config.json bad layout", file: ConfigFile, want: []string{"weight_layout"}, mutate: editConfig(func(m map[string]any) { m["weight_layout"] = "[in,out]" })},
		{
			name: "model.safetensors missing", file: ModelFile,
			mutate: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ModelFile)) },
		},
		{
			name: "weight with transposed shape", file: ModelFile, want: []string{`"encoder.1.weight"`, "[12 6]"},
			mutate: editTensor("encoder.1.weight", func(ts safetensors.Tensor) safetensors.Tensor {
				v, _ := ts.Float32()
				return safetensors.F32(ts.Name, []int{ts.Shape[1], ts.Shape[0]}, v)
			}),
		},
		{
			name: "bias with wrong length", file: ModelFile, want: []string{`"decoder.0.bias"`},
			mutate: editTensor("decoder.0.bias", func(ts safetensors.Tensor) safetensors.Tensor {
				return safetensors.F32(ts.Name, []int{13}, make([]float32, 13))
			}),
		},
		{
			name: "weight stored as F64", file: ModelFile, want: []string{`"encoder.0.weight"`},
			mutate: editTensor("encoder.0.weight", func(ts safetensors.Tensor) safetensors.Tensor {
				return safetensors.Tensor{Name: ts.Name, DType: "F64", Shape: ts.Shape, Data: append(slices.Clone(ts.Data), ts.Data...)}
			}),
		},
		{
			name: "missing tensor", file: ModelFile, want: []string{`"decoder.1.weight"`},
			mutate: func(t *testing.T, dir string) {
				ts := readTensors(t, dir)
				ts = slices.DeleteFunc(ts, func(x safetensors.Tensor) bool { return x.Name == "decoder.1.weight" })
				writeTensors(t, dir, ts)
			},
		},
		{
			name: "unexpected extra tensor", file: ModelFile, want: []string{`"encoder.2.weight"`},
			mutate: func(t *testing.T, dir string) {
				writeTensors(t, dir, append(readTensors(t, dir), safetensors.F32("encoder.2.weight", []int{3, 6}, make([]float32, 18))))
			},
		},
		{
			// An untied model's file under a tied config.
			name: "decoder weight in a tied model", tied: true, file: ModelFile, want: []string{`"decoder.0.weight"`},
			mutate: func(t *testing.T, dir string) {
				writeTensors(t, dir, append(readTensors(t, dir), safetensors.F32("decoder.0.weight", []int{12, 6}, make([]float32, 72))))
			},
		},
		{
			name: "NaN in a weight", file: ModelFile, want: []string{`"encoder.0.weight"`},
			mutate: editTensor("encoder.0.weight", func(ts safetensors.Tensor) safetensors.Tensor {
				v, _ := ts.Float32()
				v[17] = float32(math.NaN())
				return safetensors.F32(ts.Name, ts.Shape, v)
			}),
		},
		{
			name: "Inf in a bias", file: ModelFile, want: []string{`"decoder.1.bias"`},
			mutate: editTensor("decoder.1.bias", func(ts safetensors.Tensor) safetensors.Tensor {
				v, _ := ts.Float32()
				v[0] = float32(math.Inf(-1))
				return safetensors.F32(ts.Name, ts.Shape, v)
			}),
		},
		{
			name: "truncated model.safetensors", file: ModelFile,
			mutate: func(t *testing.T, dir string) {
				path := filepath.Join(dir, ModelFile)
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, raw[:len(raw)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "empty model.safetensors", file: ModelFile,
			mutate: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, ModelFile), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "model.safetensors is a directory", file: ModelFile,
			mutate: func(t *testing.T, dir string) {
				path := filepath.Join(dir, ModelFile)
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	// One trained model per tying, copied into each case's directory.
	good := map[bool]string{}
	for _, tied := range []bool{false, true} {
		c := smallConfig(graph.ReLU, tied) // [20 12 6]
		tr := mioTrain(t, c, 1)
		good[tied] = t.TempDir()
		if err := SaveModel(good[tied], tr.Params, NewModelConfig(c)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range []string{ConfigFile, ModelFile} {
				raw, err := os.ReadFile(filepath.Join(good[tc.tied], name))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			load := dir
			if tc.sub != "" {
				load = filepath.Join(dir, tc.sub)
			}
			var (
				p   *graph.Params
				err error
			)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("LoadModel panicked: %v", r)
					}
				}()
				p, _, err = LoadModel(load)
			}()
			if err == nil {
				t.Fatal("LoadModel succeeded")
			}
			if p != nil {
				t.Errorf("LoadModel returned parameters with its error %v", err)
			}
			msg := err.Error()
			t.Log(msg)
			// Name the file: its full path where the file exists or is
			// expected, else the directory and the file's name.
			wantPath := filepath.Join(load, tc.file)
			if tc.sub != "" || tc.name == "missing config.json" {
				if !strings.Contains(msg, load) || !strings.Contains(msg, tc.file) {
					t.Errorf("error %q names neither %s nor %s", msg, load, tc.file)
				}
			} else if !strings.Contains(msg, wantPath) {
				t.Errorf("error %q does not name %s", msg, wantPath)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %s", msg, w)
				}
			}
		})
	}
}
