// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFinetuneResume checks that a fine-tuning run stopped after an epoch
// and resumed from its checkpoint, in a new Finetuner, ends exactly where
// the same run without a stop ends: the same parameters bit for bit, the
// same best epoch and validation error, and the later epochs' metrics.
// For Adam and for SGD with momentum.
func TestFinetuneResume(t *testing.T) {
	all, lab := clusters(900, 20, 3, 4)
	train, tl, val, vl, err := SplitValidation(all, lab, 300)
	if err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stopped")
	for _, opt := range []string{OptAdam, OptSGD} {
		t.Run(opt, func(t *testing.T) {
			newFT := func() *Finetuner {
				p, err := ClassifierFromCAE(testCAE(t, []int{20, 12}, 1), 3, 7)
				if err != nil {
					t.Fatal(err)
				}
				cfg := testFinetuneConfig(p.Spec)
				cfg.Epochs, cfg.Optimizer, cfg.Schedule = 5, opt, CosineLR
				if opt == OptSGD {
					cfg.Momentum, cfg.Adam.LR = 0.9, 0.05
				}
				f, err := NewFinetuner(cfg, p)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(f.Close)
				return f
			}
			// The whole run.
			whole := newFT()
			var wholeEpochs []FinetuneEpoch
			wantRes, err := Finetune(context.Background(), whole, train, tl, val, vl, func(e FinetuneEpoch) error { wholeEpochs = append(wholeEpochs, e); return nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Stopped in epoch 3 (its metrics seen, its checkpoint not written).
			dir := t.TempDir()
			first := newFT()
			first.Save = func(c *FinetuneCheckpoint) error { return WriteFinetuneCheckpoint(dir, c) }
			_, err = Finetune(context.Background(), first, train, tl, val, vl, func(e FinetuneEpoch) error {
				if e.Epoch == 3 {
					return errStop
				}
				return nil
			}, nil)
			if !errors.Is(err, errStop) {
				t.Fatalf("first part: %v", err)
			}
			c, skipped, err := LatestFinetuneCheckpoint(dir)
			if err != nil || len(skipped) > 0 || c.Epoch != 2 {
				t.Fatalf("latest checkpoint: %+v, skipped %v, %v; want epoch 2", c, skipped, err)
			}
			second := newFT()
			second.Save = first.Save
			if err := second.Resume(c, train); err != nil {
				t.Fatal(err)
			}
			var later []FinetuneEpoch
			res, err := Finetune(context.Background(), second, train, tl, val, vl, func(e FinetuneEpoch) error { later = append(later, e); return nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.BestEpoch != wantRes.BestEpoch || res.BestValError != wantRes.BestValError || res.Steps != wantRes.Steps {
				t.Errorf("resumed: best epoch %d (val %v), %d steps; whole run: %d (%v), %d", res.BestEpoch, res.BestValError, res.Steps, wantRes.BestEpoch, wantRes.BestValError, wantRes.Steps)
			}
			if len(later) != 3 || later[0].Epoch != 3 {
				t.Fatalf("resumed run's epochs %+v; want 3, 4, 5", later)
			}
			for i, e := range later {
				w := wholeEpochs[2+i]
				if e.TrainLoss != w.TrainLoss || *e.ValError != *w.ValError || e.Step != w.Step {
					t.Errorf("epoch %d: train loss %v val error %v step %d; whole run %v %v %d", e.Epoch, e.TrainLoss, *e.ValError, e.Step, w.TrainLoss, *w.ValError, w.Step)
				}
			}
			for i, tt := range second.Params.Tensors {
				if !slices.Equal(tt.Data().([]float32), whole.Params.Tensors[i].Data().([]float32)) {
					t.Errorf("%s differs from the whole run's", second.Params.Shapes[i].Name)
				}
			}
			files, _ := listFinetuneCheckpoints(dir)
			if len(files) != KeepFinetuneCheckpoints || !strings.HasSuffix(files[0], "finetune-epoch-000005.ckpt") {
				t.Errorf("checkpoints kept: %v", files)
			}
		})
	}
}

// TestFinetuneCheckpointErrors checks that a damaged newest checkpoint is
// skipped (with its error) for the one before, and that a resume with other
// settings or another training split is refused, naming what differs.
func TestFinetuneCheckpointErrors(t *testing.T) {
	all, lab := clusters(600, 20, 3, 4)
	train, tl, val, vl, err := SplitValidation(all, lab, 200)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ClassifierFromCAE(testCAE(t, []int{20, 12}, 1), 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testFinetuneConfig(p.Spec)
	f, err := NewFinetuner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	f.Save = func(c *FinetuneCheckpoint) error { return WriteFinetuneCheckpoint(dir, c) }
	if _, err := Finetune(context.Background(), f, train, tl, val, vl, nil, nil); err != nil {
		t.Fatal(err)
	}
	files, _ := listFinetuneCheckpoints(dir)
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if err := os.WriteFile(files[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	c, skipped, err := LatestFinetuneCheckpoint(dir)
	if err != nil || c.Epoch != cfg.Epochs-1 || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), filepath.Base(files[0])) {
		t.Fatalf("with the newest damaged: %+v, skipped %v, %v", c, skipped, err)
	}

	other := cfg
	other.Adam.LR *= 2
	g, err := NewFinetuner(other, p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Resume(c, train); err == nil || !strings.Contains(err.Error(), "LR") {
		t.Errorf("resume with another lr: %v", err)
	}
	h, err := NewFinetuner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Resume(c, val); !errors.Is(err, ErrOtherData) {
		t.Errorf("resume on other data: %v", err)
	}
	if _, _, err := LatestFinetuneCheckpoint(t.TempDir()); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("empty directory: %v", err)
	}
}

// TestFinetuneCheckpointRoundTrip checks that every tensor of a checkpoint
// (parameters, the best epoch's parameters, Adam's moments) survives the
// file bit for bit, and that Resume puts each where it belongs.
func TestFinetuneCheckpointRoundTrip(t *testing.T) {
	all, lab := clusters(400, 20, 3, 4)
	train, tl, val, vl, err := SplitValidation(all, lab, 100)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ClassifierFromCAE(testCAE(t, []int{20, 12}, 1), 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testFinetuneConfig(p.Spec)
	cfg.Epochs = 2
	f, err := NewFinetuner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	var mem *FinetuneCheckpoint
	f.Save = func(c *FinetuneCheckpoint) error { mem = c; return WriteFinetuneCheckpoint(dir, c) }
	if _, err := Finetune(context.Background(), f, train, tl, val, vl, nil, nil); err != nil {
		t.Fatal(err)
	}
	c, _, err := LatestFinetuneCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2][][]float32{{c.params, mem.params}, {c.best, mem.best}, {c.m, mem.m}, {c.v, mem.v}} {
		for i := range pair[1] {
			if !slices.Equal(pair[0][i], pair[1][i]) {
				t.Fatalf("tensor %d changed through the file", i)
			}
		}
	}
	if c.Step != mem.Step || c.adamT != mem.adamT || c.Best != mem.Best || !slices.Equal(c.rng, mem.rng) {
		t.Errorf("read %+v, wrote %+v", c, mem)
	}
	// Make each kind of tensor distinct, then resume.
	c.best[0][0] += 1
	c.m[0][0] += 2
	c.v[0][0] += 3
	g, err := NewFinetuner(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Resume(c, train); err != nil {
		t.Fatal(err)
	}
	if g.best[0][0] != c.best[0][0] || g.adam.M[0][0] != c.m[0][0] || g.adam.V[0][0] != c.v[0][0] || g.Params.Tensors[0].Data().([]float32)[0] != c.params[0][0] || g.adam.T != c.adamT {
		t.Errorf("Resume did not put each tensor where it belongs")
	}
}
