// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/safetensors"
	"gorgonia.org/tensor"
)

// ClassifierFile is the fine-tuned classifier's weights in a model
// directory written by `caetrain finetune`.
const ClassifierFile = "classifier.safetensors"

// ClassifierConfig is a fine-tuned model's config.json: the network, then
// how it was trained and its results.
type ClassifierConfig struct {
	Model   string `json:"model"` // always "classifier"
	Arch    []int  `json:"arch"`
	Act     string `json:"act"`
	Classes int    `json:"classes"`
	Dtype   string `json:"dtype"`
	Layout  string `json:"weight_layout"`
	// Init is "cae" (encoder copied from FromModel, softmax layer Glorot)
	// or "random" (every layer Glorot).
	Init         string   `json:"init"`
	FromModel    string   `json:"from_model,omitempty"`
	FromLambda   *float64 `json:"from_lambda,omitempty"` // the CAE's λ
	Batch        int      `json:"batch"`
	Epochs       int      `json:"epochs"`
	LR           float64  `json:"lr"`
	LRSchedule   string   `json:"lr_schedule,omitempty"` // constant or cosine
	Optimizer    string   `json:"optimizer,omitempty"`   // adam (or empty: files from before SGD) or sgd
	Momentum     float64  `json:"momentum,omitempty"`    // SGD's
	WeightDecay  float64  `json:"weight_decay,omitempty"`
	InputDropout float64  `json:"input_dropout,omitempty"`
	Beta1        float64  `json:"beta1"`
	Beta2        float64  `json:"beta2"`
	Eps          float64  `json:"eps"`
	Seed         uint64   `json:"seed"`
	Val          int      `json:"val"` // validation samples, the last of the training set
	Data         string   `json:"data,omitempty"`
	// DataConfig says how the data was read and scaled (absent in files
	// from before it): eval reads the test set the same way.
	DataConfig *DataConfig `json:"data_config,omitempty"`
	Device     string      `json:"device,omitempty"`
	Version    string      `json:"caetrain_version,omitempty"`
	// Results.
	BestEpoch    int      `json:"best_epoch,omitempty"`
	Steps        int      `json:"steps,omitempty"`
	BestValError *float64 `json:"best_val_error,omitempty"`
	TestError    *float64 `json:"test_error,omitempty"` // on the whole test set, measured once
	TestN        int      `json:"test_n,omitempty"`
}

// Spec is the classifier's graph.ClassifierSpec.
func (c ClassifierConfig) Spec() graph.ClassifierSpec {
	return graph.ClassifierSpec{Arch: c.Arch, Act: graph.Activation(c.Act), Classes: c.Classes}
}

// IsClassifier reports whether dir holds a fine-tuned classifier.
func IsClassifier(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ClassifierFile))
	return err == nil
}

// SaveClassifier writes classifier.safetensors and config.json into dir,
// each atomically. Weights are stored [out, in] as in model.safetensors:
// encoder.{k}.weight [n_k, n_{k−1}], classifier.weight [classes, hidden].
func SaveClassifier(dir string, p *graph.ClassifierParams, cc ClassifierConfig) error {
	cc.Model, cc.Dtype, cc.Layout = "classifier", "float32", "[out,in]"
	cc.Arch, cc.Act, cc.Classes = p.Spec.Arch, string(p.Spec.Act), p.Spec.Classes
	ts, err := paramTensors(p.Shapes, p.Tensors)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(cc, "", "  ")
	if err != nil {
		return err
	}
	spec, err := json.Marshal(p.Spec)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", "producer": "caetrain", "caetrain.classifier": string(spec)}
	if err := safetensors.WriteFile(filepath.Join(dir, ClassifierFile), ts, meta); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), append(js, '\n'), 0o644)
}

// LoadClassifier reads a directory written by SaveClassifier. Every
// problem is an error naming the file and what is wrong.
func LoadClassifier(dir string) (*graph.ClassifierParams, ClassifierConfig, error) {
	var cc ClassifierConfig
	cpath := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(cpath)
	if err != nil {
		return nil, cc, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cc); err != nil {
		return nil, cc, fmt.Errorf("%s: %w", cpath, err)
	}
	if cc.Model != "classifier" {
		return nil, cc, fmt.Errorf("%s: model %q: not a fine-tuned classifier's config", cpath, cc.Model)
	}
	if cc.Dtype != "float32" || cc.Layout != "[out,in]" {
		return nil, cc, fmt.Errorf("%s: dtype %q, weight_layout %q: want float32, [out,in]", cpath, cc.Dtype, cc.Layout)
	}
	spec := cc.Spec()
	p, err := graph.NewClassifierParams(spec, tensor.Float32)
	if err != nil {
		return nil, cc, fmt.Errorf("%s: %w", cpath, err)
	}
	mpath := filepath.Join(dir, ClassifierFile)
	f, err := safetensors.ReadFile(mpath)
	if err != nil {
		return nil, cc, err
	}
	if m, ok := f.Metadata["caetrain.classifier"]; ok {
		want, _ := json.Marshal(spec)
		if m != string(want) {
			return nil, cc, fmt.Errorf("%s: written for %s but %s describes %s; the two files do not belong together", mpath, m, cpath, want)
		}
	}
	if err := fillParams(p.Shapes, p.Tensors, f, mpath, fmt.Sprintf("config.json describes %v → %d classes", cc.Arch, cc.Classes)); err != nil {
		return nil, cc, err
	}
	return p, cc, nil
}
