// SPDX-License-Identifier: Apache-2.0

package plot

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// metricsLine is the part of a metrics.jsonl line (engine.Metrics) that
// the loss curve needs.
type metricsLine struct {
	Event     string   `json:"event"`
	Step      int      `json:"step"`
	Loss      float64  `json:"loss"`
	Recon     float64  `json:"recon"`
	TestRecon *float64 `json:"test_recon"`
}

// LossCurve reads a training run's metrics.jsonl and draws its loss curve
// into pngPath: the training loss and reconstruction loss of the "log"
// events (or of the "epoch" events when a run logged none) and the test
// reconstruction loss of the "epoch" and "final" events, against the
// optimizer step, on a logarithmic y axis when every value is positive.
// The training loss is left out when it equals the reconstruction loss
// (λ = 0 and no CAE+H term).
func LossCurve(metricsPath, pngPath string) error {
	f, err := os.Open(metricsPath)
	if err != nil {
		return fmt.Errorf("plot: loss curve: %w", err)
	}
	defer f.Close()
	var logs, epochs []metricsLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var m metricsLine
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("plot: %s:%d: %w", metricsPath, line, err)
		}
		switch m.Event {
		case "log":
			logs = append(logs, m)
		case "epoch", "final":
			if n := len(epochs); n > 0 && epochs[n-1].Step == m.Step {
				continue // the final event repeats the last epoch's
			}
			epochs = append(epochs, m)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("plot: reading %s: %w", metricsPath, err)
	}
	train := logs
	if len(train) == 0 {
		train = epochs
	}
	var step, loss, recon, tstep, test []float64
	same := true
	for _, m := range train {
		step = append(step, float64(m.Step))
		loss = append(loss, m.Loss)
		recon = append(recon, m.Recon)
		same = same && math.Abs(m.Loss-m.Recon) <= 1e-9*math.Abs(m.Recon)
	}
	for _, m := range epochs {
		if m.TestRecon != nil {
			tstep = append(tstep, float64(m.Step))
			test = append(test, *m.TestRecon)
		}
	}
	if len(step) == 0 && len(tstep) == 0 {
		return fmt.Errorf("plot: %s: %w", metricsPath, errNoData)
	}
	positive := true
	for _, vs := range [][]float64{loss, recon, test} {
		for _, v := range vs {
			positive = positive && v > 0
		}
	}
	fig := Figure{
		Title:  "loss curve: " + filepath.Base(filepath.Dir(metricsPath)),
		XLabel: "optimizer step",
		YLabel: "mean per-sample loss",
		LogY:   positive,
	}
	if !same {
		fig.Series = append(fig.Series, Series{Name: "train loss (recon + penalties)", X: step, Y: loss})
	}
	fig.Series = append(fig.Series,
		Series{Name: "train recon", X: step, Y: recon, Points: len(logs) == 0},
		Series{Name: "test recon", X: tstep, Y: test, Points: true})
	return fig.WritePNG(pngPath)
}
