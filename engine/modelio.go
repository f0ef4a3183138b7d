// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/safetensors"
	"gorgonia.org/tensor"
)

// File names inside a model directory.
const (
	ModelFile  = "model.safetensors"
	ConfigFile = "config.json"
)

// ModelConfig is config.json: the architecture, then how it was trained.
type ModelConfig struct {
	Arch   []int   `json:"arch"`
	Act    string  `json:"act"`
	OutAct string  `json:"out_act"`
	Tied   bool    `json:"tied"`
	Loss   string  `json:"loss"`
	Lambda float64 `json:"lambda"`
	// The CAE+H term it was trained with (training only; absent when off).
	HessGamma  float64 `json:"hess_gamma,omitempty"`
	HessSigma  float64 `json:"hess_sigma,omitempty"`
	HessCopies int     `json:"hess_copies,omitempty"`
	Dtype      string  `json:"dtype"`
	Layout     string  `json:"weight_layout"`
	Preset     string  `json:"preset,omitempty"`
	Batch      int     `json:"batch,omitempty"`
	Epochs     int     `json:"epochs,omitempty"`
	Steps      int     `json:"steps,omitempty"`
	LR         float64 `json:"lr,omitempty"`
	Beta1      float64 `json:"beta1,omitempty"`
	Beta2      float64 `json:"beta2,omitempty"`
	Eps        float64 `json:"eps,omitempty"`
	Seed       uint64  `json:"seed"`
	Data       string  `json:"data,omitempty"`
	// DataConfig says how the data was read and scaled (absent in models
	// trained before it was recorded: IDX bytes divided by 255).
	DataConfig *DataConfig `json:"data_config,omitempty"`
	Device     string      `json:"device,omitempty"`
	Version    string      `json:"caetrain_version,omitempty"`
}

// Spec is the model's graph.Spec.
func (c ModelConfig) Spec() graph.Spec {
	return graph.Spec{
		Arch: c.Arch, Act: graph.Activation(c.Act), OutAct: graph.Activation(c.OutAct),
		Tied: c.Tied, Loss: graph.LossKind(c.Loss), Lambda: c.Lambda,
		HessGamma: c.HessGamma, HessSigma: c.HessSigma, HessCopies: c.HessCopies,
	}
}

// NewModelConfig describes a run of cfg.
func NewModelConfig(cfg Config) ModelConfig {
	s := cfg.Spec
	return ModelConfig{
		Arch: append([]int(nil), s.Arch...), Act: string(s.Act), OutAct: string(s.OutAct), Tied: s.Tied,
		Loss: string(s.Loss), Lambda: s.Lambda, Dtype: "float32", Layout: "[out,in]",
		HessGamma: s.HessGamma, HessSigma: s.HessSigma, HessCopies: s.HessCopies,
		Batch: cfg.Batch, Epochs: cfg.Epochs, LR: cfg.Adam.LR,
		Beta1: cfg.Adam.Beta1, Beta2: cfg.Adam.Beta2, Eps: cfg.Adam.Eps, Seed: cfg.Seed,
	}
}

// SaveModel writes model.safetensors and config.json into dir, each
// atomically. Weights are stored [out, in] (PyTorch's nn.Linear layout) as
// float32; decoder weights are absent when tied.
func SaveModel(dir string, p *graph.Params, mc ModelConfig) error {
	ts, err := paramTensors(p.Shapes, p.Tensors)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(mc, "", "  ")
	if err != nil {
		return err
	}
	// The safetensors header carries the architecture too, so that a
	// model.safetensors that does not belong with config.json (one of two
	// atomic writes failed) is detected on load.
	arch, err := json.Marshal(archOf(mc))
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", "producer": "caetrain", "caetrain.arch": string(arch)}
	if err := safetensors.WriteFile(filepath.Join(dir, ModelFile), ts, meta); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), append(js, '\n'), 0o644)
}

// archConfig is the part of ModelConfig that fixes the tensors.
type archConfig struct {
	Arch   []int   `json:"arch"`
	Act    string  `json:"act"`
	OutAct string  `json:"out_act"`
	Tied   bool    `json:"tied"`
	Loss   string  `json:"loss"`
	Lambda float64 `json:"lambda"`
}

func archOf(mc ModelConfig) archConfig {
	return archConfig{mc.Arch, mc.Act, mc.OutAct, mc.Tied, mc.Loss, mc.Lambda}
}

// transpose returns the [c, r] transpose of the row-major [r, c] matrix a.
func transpose(a []float32, r, c int) []float32 {
	t := make([]float32, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = a[i*c+j]
		}
	}
	return t
}

// LoadModel reads a model directory written by SaveModel. Every problem is
// an error naming the file and what is wrong.
func LoadModel(dir string) (*graph.Params, ModelConfig, error) {
	var mc ModelConfig
	cpath := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(cpath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, mc, fmt.Errorf("%s: no model here (missing %s; train one with caetrain --out DIR)", cpath, ConfigFile)
		}
		return nil, mc, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mc); err != nil {
		return nil, mc, fmt.Errorf("%s: %w", cpath, err)
	}
	if dec.More() {
		return nil, mc, fmt.Errorf("%s: unexpected data after the JSON object", cpath)
	}
	if mc.Dtype != "" && mc.Dtype != "float32" {
		return nil, mc, fmt.Errorf("%s: dtype %q: caetrain models are float32", cpath, mc.Dtype)
	}
	spec := mc.Spec()
	if err := spec.Validate(); err != nil {
		return nil, mc, fmt.Errorf("%s: %w", cpath, err)
	}
	if mc.Layout != "" && mc.Layout != "[out,in]" {
		return nil, mc, fmt.Errorf("%s: weight_layout %q: want \"[out,in]\"", cpath, mc.Layout)
	}
	mpath := filepath.Join(dir, ModelFile)
	f, err := safetensors.ReadFile(mpath)
	if err != nil {
		return nil, mc, err
	}
	if a, ok := f.Metadata["caetrain.arch"]; ok {
		want, _ := json.Marshal(archOf(mc))
		var got archConfig
		if err := json.Unmarshal([]byte(a), &got); err != nil {
			return nil, mc, fmt.Errorf("%s: metadata caetrain.arch: %w", mpath, err)
		}
		if g, _ := json.Marshal(got); string(g) != string(want) {
			return nil, mc, fmt.Errorf("%s: written for %s but %s describes %s; the two files do not belong together", mpath, g, cpath, want)
		}
	}
	p, err := graph.NewParams(spec, tensor.Float32)
	if err != nil {
		return nil, mc, fmt.Errorf("%s: %w", cpath, err)
	}
	if err := fillParams(p.Shapes, p.Tensors, f, mpath, fmt.Sprintf("config.json describes %v, tied=%v", mc.Arch, mc.Tied)); err != nil {
		return nil, mc, err
	}
	return p, mc, nil
}

// paramTensors are the float32 tensors of the given shapes as a
// safetensors file stores them: each weight [out, in] (PyTorch's
// nn.Linear layout), the inverse of fillParams.
func paramTensors(shapes []graph.ParamShape, src []*tensor.Dense) ([]safetensors.Tensor, error) {
	var ts []safetensors.Tensor
	for i, ps := range shapes {
		d, ok := src[i].Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("engine: saving %s: parameters must be float32", ps.Name)
		}
		if len(ps.Shape) == 2 {
			in, out := ps.Shape[0], ps.Shape[1]
			ts = append(ts, safetensors.F32(ps.Name, []int{out, in}, transpose(d, in, out)))
		} else {
			ts = append(ts, safetensors.F32(ps.Name, ps.Shape, d))
		}
	}
	return ts, nil
}

// fillParams copies the tensors of the safetensors file f (read from
// mpath) into the float32 tensors dst of the given shapes, checking that
// each is there, with the shape it needs ([out, in] for a weight,
// PyTorch's layout) and finite values, and that f holds no other; describe
// says what config.json describes, for the messages.
func fillParams(shapes []graph.ParamShape, dst []*tensor.Dense, f *safetensors.File, mpath, describe string) error {
	want := map[string]bool{}
	for i, ps := range shapes {
		want[ps.Name] = true
		t, ok := f.Get(ps.Name)
		if !ok {
			return fmt.Errorf("%s: tensor %q is missing (%s)", mpath, ps.Name, describe)
		}
		shape := ps.Shape
		if len(shape) == 2 {
			shape = []int{ps.Shape[1], ps.Shape[0]}
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, config.json's architecture needs %v", mpath, ps.Name, t.Shape, shape)
		}
		v, err := t.Float32()
		if err != nil {
			return fmt.Errorf("%s: tensor %q: %w", mpath, ps.Name, err)
		}
		for _, x := range v {
			if x-x != 0 {
				return fmt.Errorf("%s: tensor %q holds NaN or Inf values", mpath, ps.Name)
			}
		}
		if len(ps.Shape) == 2 {
			v = transpose(v, ps.Shape[1], ps.Shape[0])
		}
		copy(dst[i].Data().([]float32), v)
	}
	for _, t := range f.Tensors {
		if !want[t.Name] {
			return fmt.Errorf("%s: unexpected tensor %q for the architecture in config.json", mpath, t.Name)
		}
	}
	return nil
}
