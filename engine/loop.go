// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Metrics is one line of metrics.jsonl and one NDJSON event.
type Metrics struct {
	Event   string  `json:"event"` // "log" (every LogEvery steps), "epoch" (end of an epoch) or "final"
	Epoch   int     `json:"epoch"` // 1-based epoch the step belongs to
	Step    int     `json:"step"`  // optimizer steps taken so far
	Loss    float64 `json:"loss"`  // mean over the samples since the previous event of the same kind
	Recon   float64 `json:"recon"`
	Penalty float64 `json:"penalty"` // mean ‖J_h(x)‖²_F
	// Hess is the CAE+H term's mean, (1/C)Σ_c‖J(x) − J(x+ε_c)‖²_F; absent
	// without it.
	Hess    *float64 `json:"hess,omitempty"`
	Seconds float64  `json:"seconds"` // wall time since training started

	// Epoch-end and final events only.
	TestRecon       *float64 `json:"test_recon,omitempty"`
	TestJacobianFro *float64 `json:"test_jacobian_fro,omitempty"` // mean ‖J_h(x)‖_F over the test samples
	SamplesPerS     *float64 `json:"samples_per_s,omitempty"`     // training throughput after the first 10 steps
	Device          string   `json:"device,omitempty"`
}

// Progress reports where the loop is, after every step.
type Progress struct {
	Epoch, Epochs    int
	Step, TotalSteps int
	Loss             float64 // this step's loss
}

// Hook is called by the loop; an error stops training and is returned.
type Hook[T any] func(T) error

// Loop trains a Trainer over a data set: Epochs passes (or MaxSteps steps),
// each over a fresh shuffle of every training sample, with hooks on each
// step, every LogEvery steps, at each epoch's end and at each checkpoint.
//
// A Loop can be checkpointed between steps (Checkpoint) and a new Loop over
// the same data resumed from a checkpoint (Resume): the resumed run then
// takes exactly the steps the original would have, and ends with the same
// parameters, bit for bit.
type Loop struct {
	T           *Trainer
	Train, Test Samples
	LogEvery    int    // steps between "log" events; 0 means 50
	EvalN       int    // test samples evaluated at epoch end; 0 means all
	Device      string // reported in epoch-end and final events

	// CheckpointEvery is the number of steps between the checkpoints passed
	// to the OnCheckpoint hooks; 0 means only at each epoch's end.
	CheckpointEvery int
	// Info is copied into every checkpoint (for example, the preset's name).
	Info map[string]string

	onStep       []Hook[Progress]
	onLog        []Hook[Metrics]
	onEpoch      []Hook[Metrics]
	onCheckpoint []Hook[*Checkpoint]

	st      loopState
	started bool   // st is set: by Resume or by Run
	data    DataID // of Train, computed once
	hasData bool
}

// loopState is where a Loop is between two steps. With the trainer's
// parameters, optimizer state and step count, it is everything that decides
// the rest of the run.
type loopState struct {
	epoch    int       // 1-based epoch in progress, or about to start
	shuffled bool      // perm holds this epoch's order; false: the epoch has not started
	offset   int       // samples of perm already trained on this epoch
	perm     []int     // the epoch's order
	rng      *rand.PCG // the shuffling stream; used only to start an epoch
	// Running means for the next "log" and "epoch" events.
	sinceLog, epochMean mean
	seconds             float64  // wall time trained before this Run
	last                *Metrics // the last "epoch" event
}

// OnStep adds a hook called after every optimizer step.
func (l *Loop) OnStep(h Hook[Progress]) { l.onStep = append(l.onStep, h) }

// OnLog adds a hook called with every "log" event.
func (l *Loop) OnLog(h Hook[Metrics]) { l.onLog = append(l.onLog, h) }

// OnEpoch adds a hook called with each "epoch" event and the "final" one.
func (l *Loop) OnEpoch(h Hook[Metrics]) { l.onEpoch = append(l.onEpoch, h) }

// OnCheckpoint adds a hook called with a checkpoint every CheckpointEvery
// steps and at the end of each epoch, after that epoch's OnEpoch hooks. No
// checkpoint is taken at a step that ends an epoch or the run: the
// epoch-end one follows it.
func (l *Loop) OnCheckpoint(h Hook[*Checkpoint]) { l.onCheckpoint = append(l.onCheckpoint, h) }

// mean accumulates row-weighted means of step results.
type mean struct {
	loss, recon, pen, hess float64
	rows                   int
}

func (m *mean) add(r StepResult) {
	w := float64(r.Rows)
	m.loss += r.Loss * w
	m.recon += r.Recon * w
	m.pen += r.Penalty * w
	m.hess += r.Hess * w
	m.rows += r.Rows
}

func (m *mean) fill(out *Metrics) {
	if m.rows == 0 {
		return
	}
	n := float64(m.rows)
	out.Loss, out.Recon, out.Penalty = m.loss/n, m.recon/n, m.pen/n
	if m.hess != 0 {
		h := m.hess / n
		out.Hess = &h
	}
}

// TotalSteps is the number of optimizer steps Run will take.
func (l *Loop) TotalSteps() int {
	c := l.T.Config
	per := (l.Train.N + c.Batch - 1) / c.Batch
	total := per * c.Epochs
	if c.MaxSteps > 0 && c.MaxSteps < total {
		total = c.MaxSteps
	}
	return total
}

// Run trains until the epochs or MaxSteps are done, ctx is cancelled, a hook
// fails or training diverges, and returns the final event. It stops only
// between steps, so Checkpoint may be called after it returns; after a
// diverged step the state is that of the last good step. A Loop runs once,
// or once after Resume.
func (l *Loop) Run(ctx context.Context) (Metrics, error) {
	t := l.T
	c := t.Config
	if l.Train.N == 0 {
		return Metrics{}, fmt.Errorf("engine: no training samples")
	}
	if l.Train.Dim != c.Spec.Arch[0] {
		return Metrics{}, fmt.Errorf("engine: training samples have %d values, the architecture's input is %d", l.Train.Dim, c.Spec.Arch[0])
	}
	logEvery := l.LogEvery
	if logEvery <= 0 {
		logEvery = 50
	}
	if !l.started {
		l.st = loopState{epoch: 1, rng: newShufflePCG(c.Seed)}
		l.started = true
	}
	st := &l.st
	total := l.TotalSteps()
	shuffle := rand.New(st.rng)
	if st.perm == nil {
		st.perm = make([]int, l.Train.N)
	}
	perm := st.perm
	start := time.Now().Add(-time.Duration(st.seconds * float64(time.Second)))
	defer func() { st.seconds = time.Since(start).Seconds() }()
	// Throughput counts training steps only (not evaluation), after the
	// first 10 steps, which include warm-up; runs of 10 steps or fewer
	// count all of theirs. A resumed run counts from where it resumed.
	var tput struct {
		samples, all int
		secs, allSec float64
	}
	// flush collects the means of steps whose results stayed on the device
	// (the CUDA VM reads them back only here: at log, checkpoint and epoch
	// events). Waiting for the device is training time.
	flush := func() error {
		if !t.Deferred() {
			return nil
		}
		t0 := time.Now()
		r, err := t.Flush()
		if err != nil {
			return err
		}
		dt := time.Since(t0).Seconds()
		tput.allSec += dt
		if t.step > 10 {
			tput.secs += dt
		}
		st.sinceLog.add(r)
		st.epochMean.add(r)
		return nil
	}
	checkpoint := func() error {
		if len(l.onCheckpoint) == 0 {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		if err := t.Sync(); err != nil {
			return err
		}
		st.seconds = time.Since(start).Seconds()
		ck := l.Checkpoint()
		for _, h := range l.onCheckpoint {
			if err := h(ck); err != nil {
				return err
			}
		}
		return nil
	}
	for st.epoch <= c.Epochs && t.step < total {
		if err := ctx.Err(); err != nil {
			return Metrics{}, err
		}
		epoch := st.epoch
		if !st.shuffled {
			for i := range perm {
				perm[i] = i
			}
			shuffle.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			st.shuffled, st.offset, st.epochMean = true, 0, mean{}
		}
		for st.offset < len(perm) && t.step < total {
			if err := ctx.Err(); err != nil {
				return Metrics{}, err
			}
			idx := perm[st.offset:min(st.offset+c.Batch, len(perm))]
			t0 := time.Now()
			r, err := t.Step(l.Train, idx)
			if err != nil {
				return Metrics{}, err
			}
			dt := time.Since(t0).Seconds()
			st.offset += len(idx)
			if !r.Deferred {
				st.sinceLog.add(r)
				st.epochMean.add(r)
			}
			tput.all += r.Rows
			tput.allSec += dt
			if t.step > 10 {
				tput.samples += r.Rows
				tput.secs += dt
			}
			for _, h := range l.onStep {
				if err := h(Progress{Epoch: epoch, Epochs: c.Epochs, Step: t.step, TotalSteps: total, Loss: r.Loss}); err != nil {
					return Metrics{}, err
				}
			}
			if t.step%logEvery == 0 {
				if err := flush(); err != nil {
					return Metrics{}, err
				}
				m := Metrics{Event: "log", Epoch: epoch, Step: t.step, Seconds: time.Since(start).Seconds()}
				st.sinceLog.fill(&m)
				st.sinceLog = mean{}
				for _, h := range l.onLog {
					if err := h(m); err != nil {
						return Metrics{}, err
					}
				}
			}
			if l.CheckpointEvery > 0 && t.step%l.CheckpointEvery == 0 && st.offset < len(perm) && t.step < total {
				if err := checkpoint(); err != nil {
					return Metrics{}, err
				}
			}
		}
		if err := flush(); err != nil {
			return Metrics{}, err
		}
		m := Metrics{Event: "epoch", Epoch: epoch, Step: t.step}
		st.epochMean.fill(&m)
		if err := l.finish(&m, start, tput.samples, tput.secs, tput.all, tput.allSec); err != nil {
			return Metrics{}, err
		}
		st.last = &m
		if st.offset >= len(perm) { // the epoch is complete; the next one starts with a shuffle
			st.epoch++
			st.shuffled, st.offset = false, 0
		}
		for _, h := range l.onEpoch {
			if err := h(m); err != nil {
				return m, err
			}
		}
		if err := checkpoint(); err != nil {
			return m, err
		}
	}
	var final Metrics
	if st.last != nil {
		final = *st.last
	}
	final.Event = "final"
	if final.Step != t.step || final.TestRecon == nil { // no epoch ran, or it was cut short
		ep := st.epoch
		if !st.shuffled {
			ep--
		}
		if err := flush(); err != nil {
			return final, err
		}
		final = Metrics{Event: "final", Epoch: max(ep, 1), Step: t.step}
		st.epochMean.fill(&final)
		if err := l.finish(&final, start, tput.samples, tput.secs, tput.all, tput.allSec); err != nil {
			return final, err
		}
	}
	for _, h := range l.onEpoch {
		if err := h(final); err != nil {
			return final, err
		}
	}
	return final, nil
}

// newShufflePCG is the generator of the epochs' shuffled orders, from the
// seed alone.
func newShufflePCG(seed uint64) *rand.PCG {
	return rand.NewPCG(seed, 0x73687566666c65) // "shuffle"
}

// finish evaluates on the test set and fills the epoch-end fields.
func (l *Loop) finish(m *Metrics, start time.Time, samples int, secs float64, allSamples int, allSecs float64) error {
	m.Seconds = time.Since(start).Seconds()
	if err := l.T.Sync(); err != nil {
		return err
	}
	if l.Test.N > 0 {
		ev, err := l.T.Evaluate(l.Test, l.EvalN)
		if err != nil {
			return fmt.Errorf("engine: evaluating: %w", err)
		}
		m.TestRecon, m.TestJacobianFro = &ev.Recon, &ev.JacobianFro
	}
	var sps float64
	switch {
	case samples > 0 && secs > 0:
		sps = float64(samples) / secs
	case allSamples > 0 && allSecs > 0:
		sps = float64(allSamples) / allSecs
	}
	if sps > 0 {
		m.SamplesPerS = &sps
	}
	m.Device = l.Device
	return nil
}
