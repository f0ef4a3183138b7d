// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/caetrain/caetrain/engine"
)

// progress shows training progress on stderr: a redrawn bar when stderr is
// a terminal, plain lines otherwise.
type progress struct {
	w             io.Writer
	tty           bool
	epochs, total int
	last          time.Time
	drawn         bool
}

func newProgress(w io.Writer, epochs, total int) *progress {
	p := &progress{w: w, epochs: epochs, total: total}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) step(s engine.Progress) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && s.Step != s.TotalSteps) {
		return
	}
	p.last = time.Now()
	const width = 30
	done := 0
	if s.TotalSteps > 0 {
		done = width * s.Step / s.TotalSteps
	}
	bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
	fmt.Fprintf(p.w, "\r\033[Kepoch %d/%d [%s] step %d/%d loss %.5g", s.Epoch, s.Epochs, bar, s.Step, s.TotalSteps, s.Loss)
	p.drawn = true
}

func (p *progress) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progress) log(m engine.Metrics) {
	if p.tty {
		return
	}
	fmt.Fprintf(p.w, "epoch %d step %d/%d  loss %.5g  recon %.5g  penalty %.5g  %.1fs\n",
		m.Epoch, m.Step, p.total, m.Loss, m.Recon, m.Penalty, m.Seconds)
}

func (p *progress) epoch(m engine.Metrics) {
	if m.Event == "final" {
		return
	}
	p.clear()
	fmt.Fprintf(p.w, "epoch %d/%d done: step %d  loss %.5g  recon %.5g  penalty %.5g", m.Epoch, p.epochs, m.Step, m.Loss, m.Recon, m.Penalty)
	if m.TestRecon != nil {
		fmt.Fprintf(p.w, "  test_recon %.5g  test_jacobian_fro %.5g", *m.TestRecon, *m.TestJacobianFro)
	}
	if m.SamplesPerS != nil {
		fmt.Fprintf(p.w, "  %.0f samples/s", *m.SamplesPerS)
	}
	fmt.Fprintf(p.w, "  %.1fs\n", m.Seconds)
}

func (p *progress) done() { p.clear() }
