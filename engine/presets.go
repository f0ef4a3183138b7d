// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"sort"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/kernels"
)

// Preset is a named, complete training configuration.
type Preset struct {
	Name        string
	Description string
	Config      Config
}

// DefaultAdam are Adam's usual hyper-parameters with learning rate 1e-3.
var DefaultAdam = kernels.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}

var presets = map[string]Preset{
	"seed": {
		Name: "seed",
		Description: "the article caetrain started from: encoder 784-64-32-16 ReLU, mirrored ReLU decoder " +
			"with a linear output, SSE, λ=100, Adam lr 1e-3, batch 128, with the exact penalty",
		Config: Config{
			Spec:   graph.Spec{Arch: []int{784, 64, 32, 16}, Act: graph.ReLU, OutAct: graph.Linear, Loss: graph.SSE, Lambda: 100},
			Batch:  128,
			Epochs: 10,
			Adam:   DefaultAdam,
		},
	},
	"rifai": {
		Name: "rifai",
		Description: "Rifai et al. (ICML 2011): one sigmoid layer of 1000 units, tied weights, sigmoid output, " +
			"BCE, λ=0.1, Adam lr 1e-3, batch 128",
		Config: Config{
			Spec:   graph.Spec{Arch: []int{784, 1000}, Act: graph.Sigmoid, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1},
			Batch:  128,
			Epochs: 10,
			Adam:   DefaultAdam,
		},
	},
}

// LookupPreset returns the preset called name, with its own copy of slices.
func LookupPreset(name string) (Preset, error) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("unknown preset %q (have %v)", name, PresetNames())
	}
	p.Config.Spec.Arch = append([]int(nil), p.Config.Spec.Arch...)
	return p, nil
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
