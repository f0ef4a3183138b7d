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
	Seconds float64 `json:"seconds"` // wall time since training started

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
// step, every LogEvery steps and at each epoch's end.
type Loop struct {
	T           *Trainer
	Train, Test Samples
	LogEvery    int    // steps between "log" events; 0 means 50
	EvalN       int    // test samples evaluated at epoch end; 0 means all
	Device      string // reported in epoch-end and final events

	onStep  []Hook[Progress]
	onLog   []Hook[Metrics]
	onEpoch []Hook[Metrics]
}

// OnStep adds a hook called after every optimizer step.
func (l *Loop) OnStep(h Hook[Progress]) { l.onStep = append(l.onStep, h) }

// OnLog adds a hook called with every "log" event.
func (l *Loop) OnLog(h Hook[Metrics]) { l.onLog = append(l.onLog, h) }

// OnEpoch adds a hook called with each "epoch" event and the "final" one.
func (l *Loop) OnEpoch(h Hook[Metrics]) { l.onEpoch = append(l.onEpoch, h) }

// mean accumulates row-weighted means of step results.
type mean struct {
	loss, recon, pen float64
	rows             int
}

func (m *mean) add(r StepResult) {
	w := float64(r.Rows)
	m.loss += r.Loss * w
	m.recon += r.Recon * w
	m.pen += r.Penalty * w
	m.rows += r.Rows
}

func (m *mean) fill(out *Metrics) {
	if m.rows == 0 {
		return
	}
	n := float64(m.rows)
	out.Loss, out.Recon, out.Penalty = m.loss/n, m.recon/n, m.pen/n
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
// fails or training diverges, and returns the final event.
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
	total := l.TotalSteps()
	shuffle := rand.New(rand.NewPCG(c.Seed, 0x73687566666c65)) // "shuffle"
	perm := make([]int, l.Train.N)
	start := time.Now()
	// Throughput counts training steps only (not evaluation), after the
	// first 10 steps, which include warm-up; runs of 10 steps or fewer
	// count all of theirs.
	var tput struct {
		samples, all int
		secs, allSec float64
	}
	var sinceLog, epochMean mean
	var last Metrics
	epoch := 0
	for epoch = 1; epoch <= c.Epochs && t.step < total; epoch++ {
		for i := range perm {
			perm[i] = i
		}
		shuffle.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		epochMean = mean{}
		for off := 0; off < len(perm) && t.step < total; off += c.Batch {
			if err := ctx.Err(); err != nil {
				return last, err
			}
			idx := perm[off:min(off+c.Batch, len(perm))]
			t0 := time.Now()
			r, err := t.Step(l.Train, idx)
			if err != nil {
				return last, err
			}
			dt := time.Since(t0).Seconds()
			sinceLog.add(r)
			epochMean.add(r)
			tput.all += r.Rows
			tput.allSec += dt
			if t.step > 10 {
				tput.samples += r.Rows
				tput.secs += dt
			}
			for _, h := range l.onStep {
				if err := h(Progress{Epoch: epoch, Epochs: c.Epochs, Step: t.step, TotalSteps: total, Loss: r.Loss}); err != nil {
					return last, err
				}
			}
			if t.step%logEvery == 0 {
				m := Metrics{Event: "log", Epoch: epoch, Step: t.step, Seconds: time.Since(start).Seconds()}
				sinceLog.fill(&m)
				sinceLog = mean{}
				for _, h := range l.onLog {
					if err := h(m); err != nil {
						return last, err
					}
				}
			}
		}
		m := Metrics{Event: "epoch", Epoch: epoch, Step: t.step}
		epochMean.fill(&m)
		if err := l.finish(&m, start, tput.samples, tput.secs, tput.all, tput.allSec); err != nil {
			return last, err
		}
		last = m
		for _, h := range l.onEpoch {
			if err := h(m); err != nil {
				return last, err
			}
		}
	}
	final := last
	final.Event = "final"
	if final.Step != t.step || final.TestRecon == nil { // no epoch ran, or it was cut short
		final = Metrics{Event: "final", Epoch: max(epoch-1, 1), Step: t.step}
		epochMean.fill(&final)
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

// finish evaluates on the test set and fills the epoch-end fields.
func (l *Loop) finish(m *Metrics, start time.Time, samples int, secs float64, allSamples int, allSecs float64) error {
	m.Seconds = time.Since(start).Seconds()
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
