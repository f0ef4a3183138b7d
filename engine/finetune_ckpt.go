// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/caetrain/caetrain/internal/atomicfile"
	"github.com/caetrain/caetrain/internal/ckpt"
)

// A fine-tuning checkpoint is written at the end of every epoch into
// OUT/checkpoints/finetune-epoch-NNNNNN.ckpt, in internal/ckpt's container
// (CRC-32C over the whole file): a JSON meta object and sections
// param/NAME, best/NAME (the best epoch's parameters), and the optimizer's
// state, adam.m/NAME and adam.v/NAME or sgd.v/NAME.
const (
	finetuneCheckpointFormat = "caetrain finetune checkpoint"
	finetuneCheckpointPrefix = "finetune-epoch-"
	// KeepFinetuneCheckpoints is how many fine-tuning checkpoints are kept.
	KeepFinetuneCheckpoints = 2
	bestSection             = "best/"
	sgdSection              = "sgd.v/"
)

// FinetuneCheckpoint is a fine-tuning run frozen at the end of an epoch.
type FinetuneCheckpoint struct {
	Config  FinetuneConfig
	Epoch   int     // epochs completed
	Step    int     // optimizer steps taken
	Seconds float64 // fine-tuning time so far
	Data    DataID  // the training split's
	Best    FinetuneResult
	Path    string // the file it was read from or written to

	rng                      []byte
	adamT                    int
	params, best, m, v, velo [][]float32
}

type finetuneCheckpointMeta struct {
	Format       string         `json:"format"`
	Config       FinetuneConfig `json:"config"`
	Epoch        int            `json:"epoch"`
	Step         int            `json:"step"`
	AdamT        int            `json:"adam_t"`
	Seconds      float64        `json:"seconds"`
	RNG          []byte         `json:"rng"`
	Data         DataID         `json:"data"`
	BestEpoch    int            `json:"best_epoch"`
	BestValError float64        `json:"best_val_error"`
	BestValLoss  float64        `json:"best_val_loss"`
}

// checkpoint returns the run's state now, at the end of an epoch (copies).
func (f *Finetuner) checkpoint(data DataID, seconds float64) *FinetuneCheckpoint {
	rng, err := f.rng.MarshalBinary()
	if err != nil {
		panic(err) // PCG's MarshalBinary cannot fail
	}
	c := &FinetuneCheckpoint{
		Config: f.Config, Epoch: f.epoch, Step: f.step, Seconds: seconds, Data: data,
		Best: FinetuneResult{BestEpoch: f.res.BestEpoch, BestValError: f.res.BestValError, BestValLoss: f.res.BestValLoss},
		rng:  rng, adamT: f.adam.T,
	}
	for i, t := range f.Params.Tensors {
		c.params = append(c.params, slices.Clone(t.Data().([]float32)))
		c.best = append(c.best, slices.Clone(f.best[i]))
		if f.vel != nil {
			c.velo = append(c.velo, slices.Clone(f.vel[i]))
		} else {
			c.m = append(c.m, slices.Clone(f.adam.M[i]))
			c.v = append(c.v, slices.Clone(f.adam.V[i]))
		}
	}
	return c
}

// Resume sets f to where c left off; the next Finetune continues with
// epoch c.Epoch+1. f's configuration must be c's (the number of epochs
// may differ, but not be below c.Epoch), and train must be the training
// split c was taken on.
func (f *Finetuner) Resume(c *FinetuneCheckpoint, train Samples) error {
	a, b := f.Config, c.Config
	a.Epochs, b.Epochs = 0, 0
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("%s: the checkpoint is of a run configured %+v; this run is configured %+v", c.Path, b, a)
	}
	if f.Config.Epochs < c.Epoch {
		return fmt.Errorf("%s: the checkpoint is of epoch %d, this run has only %d epochs", c.Path, c.Epoch, f.Config.Epochs)
	}
	if id := DataIDOf(train); id != c.Data {
		return fmt.Errorf("%s: %w: the checkpoint's training split is %v, this run's is %v (same --data and --val?)", c.Path, ErrOtherData, c.Data, id)
	}
	if len(c.params) != len(f.Params.Tensors) {
		return fmt.Errorf("%s: %d tensors, the classifier has %d", c.Path, len(c.params), len(f.Params.Tensors))
	}
	for i, t := range f.Params.Tensors {
		if len(c.params[i]) != len(t.Data().([]float32)) {
			return fmt.Errorf("%s: %s has %d values, want %d", c.Path, f.Params.Shapes[i].Name, len(c.params[i]), len(t.Data().([]float32)))
		}
	}
	rng := new(rand.PCG)
	if err := rng.UnmarshalBinary(c.rng); err != nil {
		return fmt.Errorf("%s: shuffling generator state: %v", c.Path, err)
	}
	f.best = make([][]float32, len(c.params))
	for i, t := range f.Params.Tensors {
		copy(t.Data().([]float32), c.params[i])
		f.best[i] = slices.Clone(c.best[i])
		if f.vel != nil {
			copy(f.vel[i], c.velo[i])
		} else {
			copy(f.adam.M[i], c.m[i])
			copy(f.adam.V[i], c.v[i])
		}
	}
	f.adam.T, f.step, f.epoch, f.rng, f.seconds = c.adamT, c.Step, c.Epoch, rng, c.Seconds
	f.res = FinetuneResult{BestEpoch: c.Best.BestEpoch, BestValError: c.Best.BestValError, BestValLoss: c.Best.BestValLoss}
	f.padam = nil // rebuilt from the restored state at the next step
	return nil
}

// encode writes c in the checkpoint container.
func (c *FinetuneCheckpoint) encode(w io.Writer) error {
	meta := finetuneCheckpointMeta{
		Format: finetuneCheckpointFormat, Config: c.Config, Epoch: c.Epoch, Step: c.Step, AdamT: c.adamT,
		Seconds: c.Seconds, RNG: c.rng, Data: c.Data,
		BestEpoch: c.Best.BestEpoch, BestValError: c.Best.BestValError, BestValLoss: c.Best.BestValLoss,
	}
	var secs []ckpt.Section
	for i, ps := range c.Config.Spec.ParamShapes() {
		secs = append(secs, ckpt.Section{Name: paramSection + ps.Name, F32: c.params[i]}, ckpt.Section{Name: bestSection + ps.Name, F32: c.best[i]})
		if c.velo != nil {
			secs = append(secs, ckpt.Section{Name: sgdSection + ps.Name, F32: c.velo[i]})
		} else {
			secs = append(secs, ckpt.Section{Name: mSection + ps.Name, F32: c.m[i]}, ckpt.Section{Name: vSection + ps.Name, F32: c.v[i]})
		}
	}
	return ckpt.Encode(w, meta, secs)
}

// ReadFinetuneCheckpoint reads and checks the fine-tuning checkpoint at
// path. Every problem is an error naming the file and what is wrong.
func ReadFinetuneCheckpoint(path string) (*FinetuneCheckpoint, error) {
	file, err := ckpt.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := finetuneCheckpointOf(file, path)
	if err != nil {
		return nil, err
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), finetuneCheckpointPrefix), ".ckpt")); err == nil && n != c.Epoch {
		return nil, fmt.Errorf("%s: the file name says epoch %d but the checkpoint is of epoch %d", path, n, c.Epoch)
	}
	return c, nil
}

// decodeFinetuneCheckpoint decodes a fine-tuning checkpoint held in data;
// name identifies it in errors.
func decodeFinetuneCheckpoint(data []byte, name string) (*FinetuneCheckpoint, error) {
	file, err := ckpt.Decode(data, name)
	if err != nil {
		return nil, err
	}
	return finetuneCheckpointOf(file, name)
}

// finetuneCheckpointOf checks a decoded container and builds the
// checkpoint; path names it in errors.
func finetuneCheckpointOf(file *ckpt.File, path string) (*FinetuneCheckpoint, error) {
	var err error
	fail := func(format string, args ...any) (*FinetuneCheckpoint, error) {
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	var meta finetuneCheckpointMeta
	dec := json.NewDecoder(bytes.NewReader(file.Meta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return fail("checkpoint header: %v", err)
	}
	if meta.Format != finetuneCheckpointFormat {
		return fail("format %q, want %q", meta.Format, finetuneCheckpointFormat)
	}
	cfg := meta.Config
	if err := cfg.Validate(); err != nil {
		return fail("stored configuration: %v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if meta.Epoch < 1 || meta.Epoch > cfg.Epochs || meta.Step < meta.Epoch || meta.AdamT < 0 || meta.AdamT > meta.Step {
		return fail("epoch %d, step %d and Adam's step count %d are out of range", meta.Epoch, meta.Step, meta.AdamT)
	}
	if meta.BestEpoch < 1 || meta.BestEpoch > meta.Epoch || !(meta.BestValError >= 0 && meta.BestValError <= 1) || !finite(meta.BestValLoss) || !finite(meta.Seconds) {
		return fail("best epoch %d (validation error %v, loss %v) out of range", meta.BestEpoch, meta.BestValError, meta.BestValLoss)
	}
	c := &FinetuneCheckpoint{
		Config: cfg, Epoch: meta.Epoch, Step: meta.Step, Seconds: meta.Seconds, Data: meta.Data, Path: path,
		Best: FinetuneResult{BestEpoch: meta.BestEpoch, BestValError: meta.BestValError, BestValLoss: meta.BestValLoss},
		rng:  meta.RNG, adamT: meta.AdamT,
	}
	if err := new(rand.PCG).UnmarshalBinary(meta.RNG); err != nil {
		return fail("shuffling generator state: %v", err)
	}
	sgd := cfg.Optimizer == OptSGD
	want := 0
	get := func(name string, n int) ([]float32, error) {
		want++
		s, ok := file.Get(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: tensor %s is missing", path, name)
		case s.U32 != nil || len(s.F32) != n:
			return nil, fmt.Errorf("%s: tensor %s has %d values, want %d float32", path, name, len(s.F32), n)
		}
		for i, v := range s.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%s: tensor %s[%d] is %v", path, name, i, v)
			}
		}
		return s.F32, nil
	}
	for _, ps := range cfg.Spec.ParamShapes() {
		n := 1
		for _, d := range ps.Shape {
			n *= d
		}
		var p, b, x, y []float32
		if p, err = get(paramSection+ps.Name, n); err == nil {
			if b, err = get(bestSection+ps.Name, n); err == nil {
				if sgd {
					x, err = get(sgdSection+ps.Name, n)
				} else if x, err = get(mSection+ps.Name, n); err == nil {
					y, err = get(vSection+ps.Name, n)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		c.params, c.best = append(c.params, p), append(c.best, b)
		if sgd {
			c.velo = append(c.velo, x)
		} else {
			c.m, c.v = append(c.m, x), append(c.v, y)
		}
	}
	if len(file.Sections) != want {
		return fail("%d tensors, want %d", len(file.Sections), want)
	}
	return c, nil
}

// WriteFinetuneCheckpoint writes c into dir/checkpoints atomically (a
// temporary file, then a rename) and removes all but the newest
// KeepFinetuneCheckpoints fine-tuning checkpoints there.
func WriteFinetuneCheckpoint(dir string, c *FinetuneCheckpoint) error {
	cdir := filepath.Join(dir, CheckpointDir)
	path := filepath.Join(cdir, fmt.Sprintf("%s%06d.ckpt", finetuneCheckpointPrefix, c.Epoch))
	err := os.MkdirAll(cdir, 0o755)
	if err == nil {
		err = atomicfile.WriteFile(path, c.encode, 0o644)
	}
	if err != nil {
		return fmt.Errorf("saving the checkpoint of epoch %d: %w", c.Epoch, err)
	}
	c.Path = path
	files, err := listFinetuneCheckpoints(dir)
	if err != nil {
		return err
	}
	return removeAllBut(files, KeepFinetuneCheckpoints)
}

// listFinetuneCheckpoints returns dir's fine-tuning checkpoints, newest
// first.
func listFinetuneCheckpoints(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, CheckpointDir, finetuneCheckpointPrefix+"*.ckpt"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files) // zero-padded epochs
	slices.Reverse(files)
	return files, nil
}

// LatestFinetuneCheckpoint reads the newest intact fine-tuning checkpoint
// in dir/checkpoints, skipping damaged ones (their errors are returned in
// skipped). It returns ErrNoCheckpoint if there is none.
func LatestFinetuneCheckpoint(dir string) (c *FinetuneCheckpoint, skipped []error, err error) {
	files, err := listFinetuneCheckpoints(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range files {
		c, err := ReadFinetuneCheckpoint(p)
		if err == nil {
			return c, skipped, nil
		}
		skipped = append(skipped, err)
	}
	return nil, skipped, fmt.Errorf("%s: %w", filepath.Join(dir, CheckpointDir), ErrNoCheckpoint)
}
