// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/caetrain/caetrain/graph"
	"github.com/caetrain/caetrain/internal/ckpt"
)

// event is a Metrics without its timing fields, which no two runs share.
func event(m Metrics) string {
	m.Seconds, m.SamplesPerS = 0, nil
	js, _ := json.Marshal(m)
	return string(js)
}

// recorder runs a loop and records its events and checkpoints (encoded).
type recorder struct {
	events []string       // "log", "epoch" and "final" events in order, with the step
	steps  []int          // step of each event
	ckpts  map[int][]byte // encoded checkpoints by step
	order  []int          // steps of the checkpoints in the order taken
}

func (r *recorder) attach(l *Loop) {
	r.ckpts = map[int][]byte{}
	rec := func(m Metrics) error {
		r.events = append(r.events, event(m))
		r.steps = append(r.steps, m.Step)
		return nil
	}
	l.OnLog(rec)
	l.OnEpoch(rec)
	l.OnCheckpoint(func(c *Checkpoint) error {
		var b bytes.Buffer
		if err := c.encode(&b); err != nil {
			return err
		}
		r.ckpts[c.Step] = b.Bytes()
		r.order = append(r.order, c.Step)
		return nil
	})
}

func sameBits(a, b [][]float32) error {
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return fmt.Errorf("tensor %d[%d]: %v, want %v", i, j, a[i][j], b[i][j])
			}
		}
	}
	return nil
}

// TestResumeIsBitIdentical runs a loop to its end, checkpointing after
// every step, then resumes a fresh trainer from each checkpoint and
// requires the same final parameters, bit for bit, and the same events
// after the checkpoint.
func TestResumeIsBitIdentical(t *testing.T) {
	hess := smallConfig(graph.Sigmoid, false)
	hess.Spec.HessGamma, hess.Spec.HessSigma, hess.Spec.HessCopies = 0.5, 0.2, 1
	cases := []struct {
		name  string
		cfg   Config
		every int
	}{
		{"relu", smallConfig(graph.ReLU, false), 1},
		{"sigmoid tied bce", smallConfig(graph.Sigmoid, true), 2},
		{"cae+h", hess, 3},
	}
	train, test := synth(70, 20, 1), synth(20, 20, 2) // 5 batches of 16, the last of 6
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Epochs = 3
			ref := newTestTrainer(t, tc.cfg)
			l := &Loop{T: ref, Train: train, Test: test, LogEvery: 2, CheckpointEvery: tc.every, Info: map[string]string{"k": "v"}}
			var rec recorder
			rec.attach(l)
			if _, err := l.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := paramsCopy(ref)
			if len(rec.ckpts) < 5 {
				t.Fatalf("%d checkpoints taken (%v), want one every %d steps and at each epoch end", len(rec.ckpts), rec.order, tc.every)
			}
			for _, e := range []int{5, 10, 15} {
				if _, ok := rec.ckpts[e]; !ok {
					t.Errorf("no checkpoint at the end of the epoch at step %d (have %v)", e, rec.order)
				}
			}
			for _, step := range rec.order {
				c, err := decodeCheckpoint(rec.ckpts[step], "mem")
				if err != nil {
					t.Fatalf("checkpoint of step %d: %v", step, err)
				}
				if c.Step != step || c.Info["k"] != "v" {
					t.Errorf("checkpoint of step %d reads back as step %d info %v", step, c.Step, c.Info)
				}
				tr := newTestTrainer(t, tc.cfg)
				l2 := &Loop{T: tr, Train: train, Test: test, LogEvery: 2, CheckpointEvery: tc.every}
				var rec2 recorder
				rec2.attach(l2)
				if err := l2.Resume(c); err != nil {
					t.Fatal(err)
				}
				if _, err := l2.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := sameBits(paramsCopy(tr), want); err != nil {
					t.Fatalf("resumed at step %d: final parameters differ: %v", step, err)
				}
				// The events after the checkpoint are those of the
				// uninterrupted run.
				var tail []string
				for i, s := range rec.steps {
					if s > step || (s == step && strings.Contains(rec.events[i], `"final"`)) {
						tail = append(tail, rec.events[i])
					}
				}
				if !reflect.DeepEqual(rec2.events, tail) {
					t.Errorf("resumed at step %d: events\n%s\nwant\n%s", step, strings.Join(rec2.events, "\n"), strings.Join(tail, "\n"))
				}
				// So are the later checkpoints, but for the wall time.
				for _, s := range rec2.order {
					a, _ := decodeCheckpoint(rec.ckpts[s], "a")
					b, _ := decodeCheckpoint(rec2.ckpts[s], "b")
					a.loop.seconds, b.loop.seconds = 0, 0
					if a.loop.last != nil {
						a.loop.last.Seconds, b.loop.last.Seconds = 0, 0
						a.loop.last.SamplesPerS, b.loop.last.SamplesPerS = nil, nil
					}
					a.Info, b.Info = nil, nil
					if !reflect.DeepEqual(a, b) {
						t.Errorf("resumed at step %d: checkpoint of step %d differs", step, s)
					}
				}
			}
		})
	}
}

// TestCheckpointAfterInterrupt: a loop stopped by its context can be
// checkpointed, and the run resumed from it ends as the uninterrupted one.
func TestCheckpointAfterInterrupt(t *testing.T) {
	train := synth(70, 20, 1)
	cfg := smallConfig(graph.ReLU, false)
	ref := newTestTrainer(t, cfg)
	if _, err := (&Loop{T: ref, Train: train}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, stopAt := range []int{1, 4, 5, 6, 14} {
		tr := newTestTrainer(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		l := &Loop{T: tr, Train: train}
		l.OnStep(func(p Progress) error {
			if p.Step == stopAt {
				cancel()
			}
			return nil
		})
		if _, err := l.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped at %d: Run returned %v", stopAt, err)
		}
		var b bytes.Buffer
		if err := l.Checkpoint().encode(&b); err != nil {
			t.Fatal(err)
		}
		c, err := decodeCheckpoint(b.Bytes(), "mem")
		if err != nil {
			t.Fatal(err)
		}
		if c.Step != stopAt {
			t.Errorf("checkpoint step %d, want %d", c.Step, stopAt)
		}
		tr2 := newTestTrainer(t, cfg)
		l2 := &Loop{T: tr2, Train: train}
		if err := l2.Resume(c); err != nil {
			t.Fatal(err)
		}
		if _, err := l2.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := sameBits(paramsCopy(tr2), paramsCopy(ref)); err != nil {
			t.Errorf("stopped at %d and resumed: %v", stopAt, err)
		}
	}
}

// TestResumeRejects: a checkpoint resumes only the same run on the same
// data; the epochs, step limit, learning rate and λ may change.
func TestResumeRejects(t *testing.T) {
	train := synth(70, 20, 1)
	cfg := smallConfig(graph.ReLU, false)
	l := &Loop{T: newTestTrainer(t, cfg), Train: train}
	c := l.Checkpoint()
	tests := []struct {
		name  string
		edit  func(*Config)
		data  Samples
		want  string
		isErr error
	}{
		{"same", func(*Config) {}, train, "", nil},
		{"more epochs, other lr and lambda", func(c *Config) { c.Epochs, c.MaxSteps, c.Adam.LR, c.Spec.Lambda = 9, 3, 0.5, 2 }, train, "", nil},
		{"other batch", func(c *Config) { c.Batch = 8 }, train, "configured", nil},
		{"other seed", func(c *Config) { c.Seed = 1 }, train, "configured", nil},
		{"other activation", func(c *Config) { c.Spec.Act = graph.Tanh }, train, "configured", nil},
		{"other data", func(*Config) {}, synth(70, 20, 2), "crc32c", ErrOtherData},
		{"fewer samples", func(*Config) {}, synth(69, 20, 1), "69 samples", ErrOtherData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c2 := cfg
			c2.Spec.Arch = append([]int(nil), cfg.Spec.Arch...)
			tc.edit(&c2)
			l := &Loop{T: newTestTrainer(t, c2), Train: tc.data}
			err := l.Resume(c)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Resume: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Resume: %v, want an error mentioning %q", err, tc.want)
			case tc.isErr != nil && !errors.Is(err, tc.isErr):
				t.Errorf("Resume: %v, want %v", err, tc.isErr)
			}
		})
	}
}

// goodCheckpoint is a checkpoint of a few steps of a small run.
func goodCheckpoint(t *testing.T, steps int) *Checkpoint {
	t.Helper()
	cfg := smallConfig(graph.ReLU, false)
	cfg.MaxSteps = steps
	l := &Loop{T: newTestTrainer(t, cfg), Train: synth(70, 20, 1), Info: map[string]string{"preset": "test"}}
	if _, err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l.Checkpoint()
}

func encodeCheckpoint(t *testing.T, c *Checkpoint) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// editMeta re-encodes data with its JSON meta changed by edit, with a
// valid checksum, to reach the checks behind it.
func editMeta(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	f, err := ckpt.Decode(data, "x")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(f.Meta, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	var b bytes.Buffer
	if err := ckpt.Encode(&b, m, f.Sections); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// editHeader rewrites the raw JSON header of data (not only its meta),
// keeping the payload, with a valid checksum.
func editHeader(t *testing.T, data []byte, edit func(h map[string]any)) []byte {
	t.Helper()
	hlen := int(binary.LittleEndian.Uint32(data[12:]))
	var h map[string]any
	if err := json.Unmarshal(data[16:16+hlen], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	hj, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(data[:16])
	binary.LittleEndian.PutUint32(out[12:], uint32(len(hj)))
	out = append(out, hj...)
	out = append(out, data[16+hlen:]...)
	return ckpt.FixChecksum(out)
}

// editSections re-encodes data with its sections changed by edit.
func editSections(t *testing.T, data []byte, edit func([]ckpt.Section) []ckpt.Section) []byte {
	t.Helper()
	f, err := ckpt.Decode(data, "x")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := ckpt.Encode(&b, f.Meta, edit(f.Sections)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := goodCheckpoint(t, 7)
	got, err := decodeCheckpoint(encodeCheckpoint(t, c), "mem")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", got, c)
	}
	if got.Step != 7 || got.Epoch != 2 || got.Info["preset"] != "test" || got.Data.N != 70 {
		t.Errorf("step %d epoch %d info %v data %v", got.Step, got.Epoch, got.Info, got.Data)
	}
}

// TestReadCheckpointErrors: a damaged checkpoint gets an error naming the
// file and saying what is wrong, and never a panic.
func TestReadCheckpointErrors(t *testing.T) {
	good := encodeCheckpoint(t, goodCheckpoint(t, 7)) // mid-epoch 2: shuffled, offset 32
	flip := func(i int) []byte {
		d := bytes.Clone(good)
		d[i] ^= 4
		return d
	}
	setSection := func(name string, f func(s *ckpt.Section)) []byte {
		return editSections(t, good, func(ss []ckpt.Section) []ckpt.Section {
			for i := range ss {
				if ss[i].Name == name {
					f(&ss[i])
				}
			}
			return ss
		})
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"truncated", good[:len(good)*2/3], "checksum mismatch"},
		{"bit flip in a weight", flip(len(good) - 400), "checksum mismatch"},
		{"bit flip in the header", flip(40), "checksum mismatch"},
		{"not a checkpoint", []byte("go test fuzz v1\n[]byte(\"\")\n"), "bad magic"},
		{"wrong shapes", editMeta(t, good, func(m map[string]any) {
			m["config"].(map[string]any)["Spec"].(map[string]any)["Arch"] = []int{20, 10, 6}
		}), `"param/encoder.0.weight" holds 240 values, but shape [20 10]`},
		{"wrong layer count", editMeta(t, good, func(m map[string]any) {
			m["config"].(map[string]any)["Spec"].(map[string]any)["Arch"] = []int{20, 12, 6, 3}
		}), `"param/encoder.2.weight" is missing`},
		{"huge architecture", editMeta(t, good, func(m map[string]any) {
			m["config"].(map[string]any)["Spec"].(map[string]any)["Arch"] = []int{20, 1 << 40, 6}
		}), "holds 240 values"},
		{"tied claim", editMeta(t, good, func(m map[string]any) {
			m["config"].(map[string]any)["Spec"].(map[string]any)["Tied"] = true
		}), `unexpected tensor "param/decoder.0.weight"`},
		{"huge claimed section", editHeader(t, good, func(h map[string]any) {
			// A header that claims 2³¹ values for a tensor in a small file.
			h["sections"].([]any)[0].(map[string]any)["len"] = 1 << 31
		}), "claims 2147483648 values"},
		{"NaN weight", setSection("param/decoder.1.weight", func(s *ckpt.Section) { s.F32[3] = float32(math.NaN()) }), `"param/decoder.1.weight" holds NaN`},
		{"negative second moment", setSection("adam.v/encoder.1.bias", func(s *ckpt.Section) { s.F32[0] = -1 }), `"adam.v/encoder.1.bias"`},
		{"perm not a permutation", setSection("perm", func(s *ckpt.Section) { s.U32[3] = s.U32[4] }), "not a permutation"},
		{"perm out of range", setSection("perm", func(s *ckpt.Section) { s.U32[0] = 1 << 31 }), "not a permutation"},
		{"perm too short", setSection("perm", func(s *ckpt.Section) { s.U32 = s.U32[:10] }), "holds 10 samples"},
		{"perm as floats", setSection("perm", func(s *ckpt.Section) { s.F32, s.U32 = make([]float32, len(s.U32)), nil }), "perm"},
		{"missing moment", editSections(t, good, func(ss []ckpt.Section) []ckpt.Section {
			return ss[:len(ss)-2]
		}), "missing"},
		{"offset off a batch boundary", editMeta(t, good, func(m map[string]any) { m["offset"] = 33 }), "not a batch boundary"},
		{"offset past the end", editMeta(t, good, func(m map[string]any) { m["offset"] = 71 }), "position 71"},
		{"steps disagree", editMeta(t, good, func(m map[string]any) { m["adam_t"] = 6 }), "do not agree"},
		{"negative step", editMeta(t, good, func(m map[string]any) { m["step"], m["adam_t"] = -1, -1 }), "do not agree"},
		{"epoch zero", editMeta(t, good, func(m map[string]any) { m["epoch"] = 0 }), "epoch 0"},
		{"bad generator state", editMeta(t, good, func(m map[string]any) { m["rng"] = "AAAA" }), "generator"},
		{"unknown field", editMeta(t, good, func(m map[string]any) { m["lamda"] = 1 }), "lamda"},
		{"other format", editMeta(t, good, func(m map[string]any) { m["format"] = "x" }), "format"},
		{"invalid config", editMeta(t, good, func(m map[string]any) { m["config"].(map[string]any)["Batch"] = 0 }), "batch 0"},
		{"data of another width", editMeta(t, good, func(m map[string]any) { m["data"].(map[string]any)["dim"] = 784 }), "does not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CheckpointName(7))
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := ReadCheckpoint(path)
			if err == nil {
				t.Fatalf("read without error: step %d", c.Step)
			}
			if !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with the file's name and hold %q", err, tc.want)
			}
		})
	}
	// A good checkpoint under another step's name.
	path := filepath.Join(t.TempDir(), CheckpointName(8))
	os.WriteFile(path, good, 0o644)
	if _, err := ReadCheckpoint(path); err == nil || !strings.Contains(err.Error(), "step 8") {
		t.Errorf("renamed checkpoint: error %v", err)
	}
}

// limitWriter fails with ENOSPC once n bytes have been written.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		k, _ := l.w.Write(p[:l.n])
		l.n = 0
		return k, &os.PathError{Op: "write", Path: "checkpoint", Err: syscall.ENOSPC}
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// TestCheckpointerKeepsNewest: checkpoints are written under their step and
// only the newest Keep stay.
func TestCheckpointerKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	w := NewCheckpointer(dir, nil)
	c := goodCheckpoint(t, 3)
	for _, step := range []int{3, 10, 5, 20, 40} {
		c.Step, c.adamT = step, step
		if err := w.Write(c); err != nil {
			t.Fatal(err)
		}
		if got, s := w.Last(); got != filepath.Join(dir, CheckpointDir, CheckpointName(step)) || s != step {
			t.Errorf("Last() = %s, %d", got, s)
		}
	}
	files, err := ListCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if want := []string{CheckpointName(40), CheckpointName(20), CheckpointName(10)}; !reflect.DeepEqual(names, want) {
		t.Errorf("kept %v, want %v", names, want)
	}
}

// TestCheckpointDiskFull: a disk that fills while a checkpoint is written
// leaves the previous checkpoints intact and no partial file, and the error
// says what happened, names the file and the intact checkpoint.
func TestCheckpointDiskFull(t *testing.T) {
	c := goodCheckpoint(t, 3)
	size := len(encodeCheckpoint(t, c))
	for _, limit := range []int{0, 17, size / 2, size - 1} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			dir := t.TempDir()
			w := NewCheckpointer(dir, nil)
			for _, step := range []int{1, 2, 3} {
				c.Step, c.adamT = step, step
				if err := w.Write(c); err != nil {
					t.Fatal(err)
				}
			}
			before := map[string][]byte{}
			files, _ := ListCheckpoints(dir)
			for _, f := range files {
				before[f], _ = os.ReadFile(f)
			}
			w.WrapWriter = func(out io.Writer) io.Writer { return &limitWriter{w: out, n: limit} }
			c.Step, c.adamT = 4, 4
			err := w.Write(c)
			if err == nil {
				t.Fatal("write succeeded on a full disk")
			}
			msg := err.Error()
			newest := filepath.Join(dir, CheckpointDir, CheckpointName(3))
			for _, want := range []string{"no space left on device", CheckpointName(4), newest + " (step 3), is intact"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error %v does not wrap ENOSPC", err)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, CheckpointDir))
			if len(ents) != 3 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("checkpoint directory holds %v, want the 3 earlier checkpoints only", names)
			}
			for f, raw := range before {
				now, err := os.ReadFile(f)
				if err != nil || !bytes.Equal(now, raw) {
					t.Errorf("%s changed or vanished (%v)", f, err)
				}
				if _, err := ReadCheckpoint(f); err != nil {
					t.Error(err)
				}
			}
			if _, s := w.Last(); s != 3 {
				t.Errorf("Last() is step %d after a failed write, want 3", s)
			}
		})
	}
}

// TestLatestCheckpoint: the newest intact checkpoint is found, damaged
// newer ones are reported, and no intact one is an error naming each file.
func TestLatestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LatestCheckpoint(dir); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("empty directory: %v, want ErrNoCheckpoint", err)
	}
	w := NewCheckpointer(dir, nil)
	c := goodCheckpoint(t, 3)
	for _, step := range []int{3, 6, 9} {
		c.Step, c.adamT = step, step
		if err := w.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	path := func(step int) string { return filepath.Join(dir, CheckpointDir, CheckpointName(step)) }
	got, damaged, err := LatestCheckpoint(dir)
	if err != nil || got.Step != 9 || len(damaged) != 0 || got.Path != path(9) {
		t.Fatalf("got step %v, damaged %v, err %v; want step 9", got, damaged, err)
	}
	// Truncate the newest, flip a bit in the next.
	raw, _ := os.ReadFile(path(9))
	os.WriteFile(path(9), raw[:100], 0o644)
	raw, _ = os.ReadFile(path(6))
	raw[len(raw)/2] ^= 1
	os.WriteFile(path(6), raw, 0o644)
	got, damaged, err = LatestCheckpoint(dir)
	if err != nil || got.Step != 3 {
		t.Fatalf("got %v, %v; want the checkpoint of step 3", got, err)
	}
	if len(damaged) != 2 || damaged[0].Path != path(9) || damaged[1].Path != path(6) {
		t.Errorf("damaged %+v, want steps 9 and 6", damaged)
	}
	for _, d := range damaged {
		if !strings.Contains(d.Err.Error(), d.Path) {
			t.Errorf("error %v does not name %s", d.Err, d.Path)
		}
	}
	os.WriteFile(path(3), nil, 0o644)
	_, _, err = LatestCheckpoint(dir)
	if err == nil {
		t.Fatal("no intact checkpoint, yet no error")
	}
	for _, s := range []int{3, 6, 9} {
		if !strings.Contains(err.Error(), path(s)) {
			t.Errorf("error %q does not name %s", err, path(s))
		}
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	cdir := filepath.Join(dir, CheckpointDir)
	os.MkdirAll(cdir, 0o755)
	for _, n := range []string{".ckpt-000000005.bin.tmp-123", CheckpointName(5), "notes.txt"} {
		os.WriteFile(filepath.Join(cdir, n), []byte("x"), 0o644)
	}
	if err := RemoveStaleTemps(dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cdir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{CheckpointName(5), "notes.txt"}; !reflect.DeepEqual(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
}
