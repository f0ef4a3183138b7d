// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package engine

import (
	"context"
	"math"
	"testing"
)

// TestCUDAFinetuneParity fine-tunes the same classifier (a 20-12-6 sigmoid
// encoder from a CAE, a softmax over 3 classes) on the CPU VM and on the
// CUDA VM, with Adam and with SGD plus input dropout, and requires the
// same run: every epoch's training loss and validation loss within a
// relative 1e-4, the same validation errors, and each final tensor within
// ‖w_cuda − w_cpu‖₂ / ‖w_cpu‖₂ ≤ 1e-4. The two differ only by float32
// rounding (cuBLAS's and the kernels' sums in another order; expf and
// logf); the measured differences are in the log.
func TestCUDAFinetuneParity(t *testing.T) {
	all, lab := clusters(900, 20, 3, 4)
	train, tl, val, vl, err := SplitValidation(all, lab, 300)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(*FinetuneConfig)
	}{
		{"adam", func(*FinetuneConfig) {}},
		{"sgd+dropout", func(c *FinetuneConfig) {
			c.Optimizer, c.Momentum, c.Adam.LR, c.InputDropout, c.WeightDecay = OptSGD, 0.9, 0.05, 0.2, 1e-4
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			type result struct {
				epochs []FinetuneEpoch
				params [][]float32
				test   ClassEval
			}
			var res [2]result
			for i, dev := range []Device{CPU, CUDA} {
				p, err := ClassifierFromCAE(testCAE(t, []int{20, 12, 6}, 1), 3, 7)
				if err != nil {
					t.Fatal(err)
				}
				cfg := testFinetuneConfig(p.Spec)
				cfg.Epochs, cfg.Device = 4, dev
				c.set(&cfg)
				f, err := NewFinetuner(cfg, p)
				if err != nil {
					t.Fatalf("%s: %v", dev, err)
				}
				if _, err := Finetune(context.Background(), f, train, tl, val, vl, func(e FinetuneEpoch) error {
					res[i].epochs = append(res[i].epochs, e)
					return nil
				}, nil); err != nil {
					t.Fatalf("%s: %v", dev, err)
				}
				if res[i].test, err = f.Evaluate(val, vl); err != nil {
					t.Fatal(err)
				}
				f.Close()
				for _, tt := range p.Tensors {
					res[i].params = append(res[i].params, tt.Data().([]float32))
				}
			}
			cpu, gpu := res[0], res[1]
			worst := 0.0
			for e := range cpu.epochs {
				a, b := cpu.epochs[e], gpu.epochs[e]
				for _, d := range []float64{rel(a.TrainLoss, b.TrainLoss), rel(*a.ValLoss, *b.ValLoss)} {
					worst = math.Max(worst, d)
				}
				if *a.ValError != *b.ValError || a.Step != b.Step {
					t.Errorf("epoch %d: val error cpu %v cuda %v, steps %d %d", e+1, *a.ValError, *b.ValError, a.Step, b.Step)
				}
			}
			t.Logf("losses: worst relative difference %.2e", worst)
			if worst > 1e-4 || len(gpu.epochs) != len(cpu.epochs) {
				t.Errorf("loss trajectories differ: worst relative %.2e > 1e-4", worst)
			}
			for i := range cpu.params {
				var d2, n2 float64
				for j, w := range cpu.params[i] {
					d := float64(gpu.params[i][j] - w)
					d2 += d * d
					n2 += float64(w) * float64(w)
				}
				r := math.Sqrt(d2 / n2)
				t.Logf("tensor %d: relative difference %.2e", i, r)
				if !(r <= 1e-4) {
					t.Errorf("tensor %d: relative difference %.2e > 1e-4", i, r)
				}
			}
			if cpu.test.Errors != gpu.test.Errors {
				t.Errorf("final validation errors: cpu %d, cuda %d", cpu.test.Errors, gpu.test.Errors)
			}
		})
	}
}

func rel(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(a), 1e-30) }
