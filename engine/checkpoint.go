// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
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

// Checkpoint files.
const (
	// CheckpointDir is the directory, inside a run's output directory, that
	// holds its checkpoints.
	CheckpointDir = "checkpoints"
	// KeepCheckpoints is how many of the newest checkpoints a Checkpointer
	// keeps by default.
	KeepCheckpoints = 3

	checkpointPrefix = "ckpt-"
	checkpointSuffix = ".bin"
	checkpointFormat = "caetrain checkpoint"
)

// ErrOtherData is returned by Loop.Resume when the training set is not the
// one the checkpoint was trained on.
var ErrOtherData = errors.New("other training data")

// ErrNoCheckpoint is returned by LatestCheckpoint when a directory holds no
// checkpoint files at all.
var ErrNoCheckpoint = errors.New("no checkpoints")

// CheckpointName is the file name of the checkpoint taken after step steps,
// e.g. ckpt-000001200.bin.
func CheckpointName(step int) string {
	return fmt.Sprintf("%s%09d%s", checkpointPrefix, step, checkpointSuffix)
}

// checkpointStep parses a name made by CheckpointName.
func checkpointStep(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, checkpointPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, checkpointSuffix); !ok || len(s) < 9 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	return n, true
}

// DataID identifies a training set: its shape and a CRC-32C of its values.
// A checkpoint records it so that a run is not resumed on other data.
type DataID struct {
	N      int    `json:"n"`
	Dim    int    `json:"dim"`
	CRC32C uint32 `json:"crc32c"`
}

func (d DataID) String() string {
	return fmt.Sprintf("%d samples of %d values, crc32c %08x", d.N, d.Dim, d.CRC32C)
}

// DataIDOf computes the DataID of s.
func DataIDOf(s Samples) DataID {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	buf := make([]byte, 0, 64<<10)
	for _, v := range s.X[:s.N*s.Dim] {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return DataID{N: s.N, Dim: s.Dim, CRC32C: h.Sum32()}
}

// Checkpoint is a training run frozen between two steps: the configuration,
// the parameters, Adam's moments and step count, the epoch, the position in
// the epoch's shuffled order and the shuffling generator's state. A Loop
// resumed from it continues exactly as the run would have.
//
// On disk (internal/ckpt's container, CRC-32C over the whole file), the
// JSON meta holds format "caetrain checkpoint", config, step, adam_t,
// epoch, shuffled, offset, rng (rand.PCG.MarshalBinary), the running means
// since_log and epoch_mean, seconds, last_epoch, data (DataID) and info;
// the sections are param/NAME, adam.m/NAME and adam.v/NAME (float32, graph
// layout [in, out], in Spec.ParamShapes order) and perm (uint32: the
// epoch's shuffled order, empty before the epoch starts).
type Checkpoint struct {
	Config Config
	Step   int               // optimizer steps taken
	Epoch  int               // 1-based epoch in progress, or about to start
	Data   DataID            // the training set
	Info   map[string]string // the Loop's Info
	Path   string            // the file it was read from or last written to

	params, m, v [][]float32 // in Spec.ParamShapes order
	adamT        int
	loop         loopState
}

// Checkpoint returns the loop's state now, between two steps: after Run
// returned, or from within a hook. The checkpoint holds copies of the
// parameters and optimizer state.
func (l *Loop) Checkpoint() *Checkpoint {
	t := l.T
	if !l.hasData {
		l.data, l.hasData = DataIDOf(l.Train), true
	}
	if !l.started {
		l.st = loopState{epoch: 1, rng: newShufflePCG(t.Config.Seed)}
		l.started = true
	}
	c := &Checkpoint{
		Config: t.Config,
		Step:   t.step,
		Epoch:  l.st.epoch,
		Data:   l.data,
		adamT:  t.adam.T,
		loop:   l.st,
	}
	c.Config.Spec.Arch = slices.Clone(c.Config.Spec.Arch)
	if l.Info != nil {
		c.Info = make(map[string]string, len(l.Info))
		for k, v := range l.Info {
			c.Info[k] = v
		}
	}
	for i, p := range t.Params.Tensors {
		c.params = append(c.params, slices.Clone(p.Data().([]float32)))
		c.m = append(c.m, slices.Clone(t.adam.M[i]))
		c.v = append(c.v, slices.Clone(t.adam.V[i]))
	}
	if l.st.shuffled {
		c.loop.perm = slices.Clone(l.st.perm)
	} else {
		c.loop.perm = nil
		c.loop.offset = 0
	}
	rng := *l.st.rng
	c.loop.rng = &rng
	if l.st.last != nil {
		last := *l.st.last
		c.loop.last = &last
	}
	return c
}

// Resume sets the loop, and its trainer, to where c left off. The trainer
// must be configured as c was, except that Epochs and MaxSteps may differ
// (to extend or shorten a run), and so may the learning rate and λ (to
// rescue a run that diverged); the training set must be the one c was
// trained on, else the error wraps ErrOtherData. Call it before Run. With
// the same configuration, the resumed run takes exactly the steps the
// original would have taken and ends with the same parameters, bit for bit.
func (l *Loop) Resume(c *Checkpoint) error {
	t := l.T
	if err := sameRun(c.Config, t.Config); err != nil {
		return err
	}
	if !l.hasData {
		l.data, l.hasData = DataIDOf(l.Train), true
	}
	if c.Data != l.data {
		return fmt.Errorf("%w: the checkpoint was trained on %v; this training set is %v", ErrOtherData, c.Data, l.data)
	}
	if len(c.params) != len(t.Params.Tensors) {
		return fmt.Errorf("engine: checkpoint holds %d parameter tensors, the model has %d", len(c.params), len(t.Params.Tensors))
	}
	for i, p := range t.Params.Tensors {
		d := p.Data().([]float32)
		if len(c.params[i]) != len(d) || len(c.m[i]) != len(d) || len(c.v[i]) != len(d) {
			return fmt.Errorf("engine: checkpoint tensor %s has the wrong size", t.Params.Shapes[i].Name)
		}
	}
	if c.loop.shuffled && len(c.loop.perm) != l.Train.N {
		return fmt.Errorf("engine: checkpoint's shuffled order covers %d samples, the training set has %d", len(c.loop.perm), l.Train.N)
	}
	for i, p := range t.Params.Tensors {
		copy(p.Data().([]float32), c.params[i])
		copy(t.adam.M[i], c.m[i])
		copy(t.adam.V[i], c.v[i])
	}
	t.adam.T = c.adamT
	t.step = c.Step
	if err := t.Upload(); err != nil {
		return err
	}
	l.st = c.loop
	l.st.perm = slices.Clone(c.loop.perm)
	rng := *c.loop.rng
	l.st.rng = &rng
	if l.st.last != nil {
		last := *l.st.last
		l.st.last = &last
	}
	l.started = true
	return nil
}

// sameRun reports whether a checkpoint made under config a can continue
// under config b: everything but Epochs, MaxSteps, the learning rate and λ
// must agree. (Changing the last two is how a diverged run is rescued; the
// run is then no longer the one an uninterrupted run would have made.)
func sameRun(a, b Config) error {
	a.Epochs, a.MaxSteps, b.Epochs, b.MaxSteps = 0, 0, 0, 0
	a.Adam.LR, b.Adam.LR, a.Spec.Lambda, b.Spec.Lambda = 0, 0, 0, 0
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("engine: the checkpoint is of a run configured %+v; this trainer is configured %+v", a, b)
	}
	return nil
}

// meanJSON is a mean's state in a checkpoint.
type meanJSON struct {
	Loss    float64 `json:"loss"`
	Recon   float64 `json:"recon"`
	Penalty float64 `json:"penalty"`
	Hess    float64 `json:"hess,omitempty"`
	Rows    int     `json:"rows"`
}

// checkpointMeta is the JSON meta object of a checkpoint file.
type checkpointMeta struct {
	Format    string            `json:"format"`
	Config    Config            `json:"config"`
	Step      int               `json:"step"`
	AdamT     int               `json:"adam_t"`
	Epoch     int               `json:"epoch"`
	Shuffled  bool              `json:"shuffled"`
	Offset    int               `json:"offset"`
	RNG       []byte            `json:"rng"`
	SinceLog  meanJSON          `json:"since_log"`
	EpochMean meanJSON          `json:"epoch_mean"`
	Seconds   float64           `json:"seconds"`
	Last      *Metrics          `json:"last_epoch,omitempty"`
	Data      DataID            `json:"data"`
	Info      map[string]string `json:"info,omitempty"`
}

// Section names.
const (
	paramSection = "param/"
	mSection     = "adam.m/"
	vSection     = "adam.v/"
	permSection  = "perm"
)

// encode writes c in the checkpoint format.
func (c *Checkpoint) encode(w io.Writer) error {
	rng, err := c.loop.rng.MarshalBinary()
	if err != nil {
		return err
	}
	meta := checkpointMeta{
		Format: checkpointFormat, Config: c.Config, Step: c.Step, AdamT: c.adamT,
		Epoch: c.loop.epoch, Shuffled: c.loop.shuffled, Offset: c.loop.offset, RNG: rng,
		SinceLog: toJSON(c.loop.sinceLog), EpochMean: toJSON(c.loop.epochMean),
		Seconds: c.loop.seconds, Last: c.loop.last, Data: c.Data, Info: c.Info,
	}
	var secs []ckpt.Section
	shapes := c.Config.Spec.ParamShapes()
	if len(shapes) != len(c.params) {
		return fmt.Errorf("engine: checkpoint has %d tensors for %d shapes", len(c.params), len(shapes))
	}
	for i, ps := range shapes {
		secs = append(secs,
			ckpt.Section{Name: paramSection + ps.Name, F32: c.params[i]},
			ckpt.Section{Name: mSection + ps.Name, F32: c.m[i]},
			ckpt.Section{Name: vSection + ps.Name, F32: c.v[i]})
	}
	perm := make([]uint32, len(c.loop.perm))
	for i, p := range c.loop.perm {
		perm[i] = uint32(p)
	}
	secs = append(secs, ckpt.Section{Name: permSection, U32: perm})
	return ckpt.Encode(w, meta, secs)
}

func toJSON(m mean) meanJSON { return meanJSON{m.loss, m.recon, m.pen, m.hess, m.rows} }

func fromJSON(m meanJSON) mean { return mean{m.Loss, m.Recon, m.Penalty, m.Hess, m.Rows} }

// ReadCheckpoint reads and checks the checkpoint at path. Every problem is
// an error naming the file and what is wrong: a truncated or bit-flipped
// file fails its checksum; tensors that do not fit the stored configuration,
// non-finite values, and an inconsistent position are reported as such.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := ckpt.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := fromFile(f, path)
	if err != nil {
		return nil, err
	}
	if step, ok := checkpointStep(filepath.Base(path)); ok && step != c.Step {
		return nil, fmt.Errorf("%s: the file name says step %d but the checkpoint is of step %d", path, step, c.Step)
	}
	c.Path = path
	return c, nil
}

// decodeCheckpoint decodes a checkpoint held in data; name identifies it in
// errors.
func decodeCheckpoint(data []byte, name string) (*Checkpoint, error) {
	f, err := ckpt.Decode(data, name)
	if err != nil {
		return nil, err
	}
	return fromFile(f, name)
}

// fromFile checks a decoded checkpoint container and builds the Checkpoint.
func fromFile(f *ckpt.File, name string) (*Checkpoint, error) {
	fail := func(format string, args ...any) (*Checkpoint, error) {
		return nil, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	var meta checkpointMeta
	dec := json.NewDecoder(bytes.NewReader(f.Meta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return fail("checkpoint header: %v", err)
	}
	if meta.Format != checkpointFormat {
		return fail("format %q, want %q", meta.Format, checkpointFormat)
	}
	cfg := meta.Config
	if err := cfg.Validate(); err != nil {
		return fail("stored configuration: %v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if meta.Step < 0 || meta.AdamT != meta.Step {
		return fail("step %d and Adam's step count %d do not agree", meta.Step, meta.AdamT)
	}
	if meta.Epoch < 1 || meta.Epoch > math.MaxInt32 {
		return fail("epoch %d out of range", meta.Epoch)
	}
	if meta.Data.N < 1 || meta.Data.Dim != cfg.Spec.Arch[0] {
		return fail("training set of %d samples of %d values does not fit the architecture %v", meta.Data.N, meta.Data.Dim, cfg.Spec.Arch)
	}
	rng := new(rand.PCG)
	if err := rng.UnmarshalBinary(meta.RNG); err != nil {
		return fail("shuffling generator state: %v", err)
	}
	for _, m := range []meanJSON{meta.SinceLog, meta.EpochMean} {
		if m.Rows < 0 || !finite(m.Loss) || !finite(m.Recon) || !finite(m.Penalty) || !finite(meta.Seconds) {
			return fail("running means out of range")
		}
	}

	// The sections must be exactly the parameters, moments and order,
	// with the sizes the configuration implies. Each layer needs at least
	// three sections: count before listing the shapes.
	if layers := len(cfg.Spec.Arch) - 1; layers > len(f.Sections) {
		return fail("the stored architecture %v has %d layers, but the file holds only %d tensors", cfg.Spec.Arch, layers, len(f.Sections))
	}
	shapes := cfg.Spec.ParamShapes()
	want := map[string]bool{permSection: true}
	c := &Checkpoint{Config: cfg, Step: meta.Step, Epoch: meta.Epoch, Data: meta.Data, Info: meta.Info, adamT: meta.AdamT}
	for _, ps := range shapes {
		size, ok := shapeSize(ps.Shape)
		for k, prefix := range []string{paramSection, mSection, vSection} {
			sname := prefix + ps.Name
			want[sname] = true
			s, found := f.Get(sname)
			if !found || s.U32 != nil {
				return fail("tensor %q is missing (the stored architecture %v needs it)", sname, cfg.Spec.Arch)
			}
			if !ok || len(s.F32) != size {
				return fail("tensor %q holds %d values, but shape %v of the stored architecture %v needs %d",
					sname, len(s.F32), ps.Shape, cfg.Spec.Arch, size)
			}
			for _, x := range s.F32 {
				if x-x != 0 || (k == 2 && x < 0) {
					return fail("tensor %q holds NaN, infinite or (for adam.v) negative values", sname)
				}
			}
			switch k {
			case 0:
				c.params = append(c.params, s.F32)
			case 1:
				c.m = append(c.m, s.F32)
			case 2:
				c.v = append(c.v, s.F32)
			}
		}
	}
	for _, s := range f.Sections {
		if !want[s.Name] {
			return fail("unexpected tensor %q for the stored architecture %v", s.Name, cfg.Spec.Arch)
		}
	}
	ps, _ := f.Get(permSection)
	if ps.U32 == nil {
		return fail("the shuffled order %q is missing or not u32", permSection)
	}
	st := loopState{
		epoch: meta.Epoch, shuffled: meta.Shuffled, offset: meta.Offset, rng: rng,
		sinceLog: fromJSON(meta.SinceLog), epochMean: fromJSON(meta.EpochMean),
		seconds: meta.Seconds, last: meta.Last,
	}
	if meta.Shuffled {
		n := meta.Data.N
		if len(ps.U32) != n {
			return fail("the shuffled order holds %d samples, the training set %d", len(ps.U32), n)
		}
		seen := make([]uint64, (n+63)/64)
		st.perm = make([]int, n)
		for i, p := range ps.U32 {
			if int64(p) >= int64(n) || seen[p/64]&(1<<(p%64)) != 0 {
				return fail("the shuffled order is not a permutation of 0..%d", n-1)
			}
			seen[p/64] |= 1 << (p % 64)
			st.perm[i] = int(p)
		}
		if meta.Offset < 0 || meta.Offset > n || (meta.Offset%cfg.Batch != 0 && meta.Offset != n) {
			return fail("position %d in an epoch of %d samples is not a batch boundary (batch %d)", meta.Offset, n, cfg.Batch)
		}
	} else if len(ps.U32) != 0 || meta.Offset != 0 {
		return fail("an epoch that has not started has position %d and an order of %d samples", meta.Offset, len(ps.U32))
	}
	c.loop = st
	return c, nil
}

// shapeSize is the product of shape, and false if it overflows an int.
func shapeSize(shape []int) (int, bool) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		n = lo
	}
	return int(n), true
}

// A Checkpointer writes a run's checkpoints into Dir/checkpoints and keeps
// the newest Keep of them.
type Checkpointer struct {
	Dir  string // the run's output directory
	Keep int    // how many checkpoints to keep; 0 means KeepCheckpoints
	// WrapWriter, if set, wraps the writer each checkpoint is written
	// through. It exists for fault injection: tests use it to fill the disk.
	WrapWriter func(io.Writer) io.Writer

	lastPath string // the newest checkpoint written, or the one resumed from
	lastStep int
}

// NewCheckpointer returns a Checkpointer for the run in dir. from, if not
// nil, is the checkpoint the run resumed from.
func NewCheckpointer(dir string, from *Checkpoint) *Checkpointer {
	w := &Checkpointer{Dir: dir}
	if from != nil {
		w.lastPath, w.lastStep = from.Path, from.Step
	}
	return w
}

// Last returns the path and step of the newest checkpoint written, or of
// the one the run resumed from; the path is "" if there is none.
func (w *Checkpointer) Last() (path string, step int) { return w.lastPath, w.lastStep }

// Write writes c atomically (a temporary file, fsync, rename, fsync of the
// directory) and then removes all but the newest Keep checkpoints. If it
// fails, the checkpoints already on disk are untouched, and the error says
// which one is the newest.
func (w *Checkpointer) Write(c *Checkpoint) error {
	dir := filepath.Join(w.Dir, CheckpointDir)
	path := filepath.Join(dir, CheckpointName(c.Step))
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = atomicfile.WriteFile(path, func(out io.Writer) error {
			if w.WrapWriter != nil {
				out = w.WrapWriter(out)
			}
			return c.encode(out)
		}, 0o644)
	}
	if err != nil {
		prev := "there is no earlier checkpoint"
		if w.lastPath != "" {
			prev = fmt.Sprintf("the previous checkpoint, %s (step %d), is intact", w.lastPath, w.lastStep)
		}
		return fmt.Errorf("saving the checkpoint of step %d: %w; %s", c.Step, err, prev)
	}
	c.Path = path
	w.lastPath, w.lastStep = path, c.Step
	return w.prune(dir)
}

// prune removes all but the newest Keep checkpoints in dir.
func (w *Checkpointer) prune(dir string) error {
	keep := w.Keep
	if keep <= 0 {
		keep = KeepCheckpoints
	}
	files, err := ListCheckpoints(filepath.Dir(dir))
	if err != nil {
		return err
	}
	return removeAllBut(files, keep)
}

// removeAllBut removes the checkpoint files after the first keep (files
// newest first).
func removeAllBut(files []string, keep int) error {
	for _, p := range files[min(keep, len(files)):] {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing an old checkpoint: %w", err)
		}
	}
	return nil
}

// ListCheckpoints returns the checkpoint files of the run in dir, newest
// (highest step) first. A missing checkpoint directory lists nothing.
func ListCheckpoints(dir string) ([]string, error) {
	cdir := filepath.Join(dir, CheckpointDir)
	ents, err := os.ReadDir(cdir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type file struct {
		step int
		path string
	}
	var files []file
	for _, e := range ents {
		if step, ok := checkpointStep(e.Name()); ok {
			files = append(files, file{step, filepath.Join(cdir, e.Name())})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return b.step - a.step })
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	return paths, nil
}

// DamagedCheckpoint is a checkpoint file that could not be used.
type DamagedCheckpoint struct {
	Path string
	Err  error
}

// LatestCheckpoint returns the newest checkpoint of the run in dir that
// reads back intact, and the newer ones that did not. If none is intact the
// error names every file and what is wrong with it; if there are no
// checkpoint files it wraps ErrNoCheckpoint.
func LatestCheckpoint(dir string) (*Checkpoint, []DamagedCheckpoint, error) {
	files, err := ListCheckpoints(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%w in %s", ErrNoCheckpoint, filepath.Join(dir, CheckpointDir))
	}
	var damaged []DamagedCheckpoint
	for _, p := range files {
		c, err := ReadCheckpoint(p)
		if err == nil {
			return c, damaged, nil
		}
		damaged = append(damaged, DamagedCheckpoint{p, err})
	}
	errs := []error{fmt.Errorf("no usable checkpoint in %s:", filepath.Join(dir, CheckpointDir))}
	for _, d := range damaged {
		errs = append(errs, d.Err)
	}
	return nil, damaged, errors.Join(errs...)
}

// RemoveStaleTemps removes the temporary files that a run killed while
// writing a checkpoint leaves in dir's checkpoint directory.
func RemoveStaleTemps(dir string) error {
	cdir := filepath.Join(dir, CheckpointDir)
	ents, err := os.ReadDir(cdir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "."+checkpointPrefix) && strings.Contains(n, checkpointSuffix+".tmp-") {
			if err := os.Remove(filepath.Join(cdir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}
