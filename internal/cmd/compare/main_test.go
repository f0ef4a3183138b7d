// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		cae, ae float64
		want    string
	}{
		{1, 10, "far below"},
		{1, 3, "far below"},
		{1, 2, "not far below"},
		{1, 1.05, "about the same"},
		{1, 0.5, "above"},
	}
	for _, tc := range tests {
		if got := verdict("CAE", tc.cae, tc.ae); !strings.Contains(got, tc.want) {
			t.Errorf("verdict(%v, %v) = %q, want %q in it", tc.cae, tc.ae, got, tc.want)
		}
	}
}

func TestWriteReport(t *testing.T) {
	out := t.TempDir()
	f := func(v float64) *float64 { return &v }
	mk := func(variant, label string, fro float64) result {
		dir := filepath.Join(out, "mnist", variant)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m := `{"event":"log","step":50,"loss":200,"recon":190}` + "\n" + `{"event":"log","step":100,"loss":150,"recon":140}` + "\n"
		if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		r := result{Dataset: "mnist", Variant: variant, Label: label, Dir: dir, TrainSeconds: 12}
		r.Eval.TestJacobianFro, r.Eval.TestRecon = fro, 80
		r.Eval.SaturatedFraction, r.Eval.ProbeTestAccuracy, r.Eval.KNNAccuracy = f(0.1), f(0.95), f(0.96)
		r.Eval.Contraction = &contraction{}
		for _, rad := range []float64{0.01, 0.1, 1} {
			r.Eval.Contraction.Points = append(r.Eval.Contraction.Points, point{rad, fro / 10})
		}
		r.Eval.Spectrum = &spectrum{[]float64{fro / 2, fro / 4, fro / 8}}
		r.Eval.Files = map[string]string{"loss_curve_png": filepath.Join(dir, "report", "loss_curve.png")}
		return r
	}
	rs := []result{mk("cae", "CAE", 1), mk("ae", "AE", 5), mk("cae-h", "CAE+H", 0.9)}
	md, err := writeReport(options{out: out, epochs: 2, seed: 1, lambda: 0.1, hessGamma: 0.1, hessSigma: 0.1, hessCopies: 4}, rs, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## mnist", "| CAE | 1 | 80.00 | 10.00% | 95.00% | 96.00% | 12 |", "far below", "mnist-contraction.png", "mnist/cae/report/loss_curve.png",
		"The CAE's mean ‖J‖_F (1) is far below", "The CAE+H's mean ‖J‖_F (0.9) is far below", "4 corrupted copies per sample: λ = 0.1, γ = 0.1, σ = 0.1"} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	for _, f := range []string{"results.md", "results.json", "mnist-contraction.png", "mnist-spectrum.png", "mnist-loss.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
}

func TestRunNeedsData(t *testing.T) {
	var o, e strings.Builder
	if err := run([]string{"--out", t.TempDir()}, &o, &e); err == nil || !strings.Contains(err.Error(), "--mnist") {
		t.Errorf("run without data sets: %v", err)
	}
}
