// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
	"github.com/caetrain/caetrain/graph"
	"gorgonia.org/tensor"
)

// tinyModel saves an untrained 784-8 model with Glorot weights into a new
// directory and returns it: enough for eval and encode, without training.
func tinyModel(t *testing.T, act graph.Activation) string {
	t.Helper()
	cfg := engine.Config{
		Spec:  graph.Spec{Arch: []int{784, 8}, Act: act, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1},
		Batch: 16, Epochs: 1, Adam: engine.DefaultAdam, Seed: 3,
	}
	p, err := graph.NewParams(cfg.Spec, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	engine.GlorotInit(p, cfg.Seed)
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := engine.SaveModel(dir, p, engine.NewModelConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEvalReport(t *testing.T) {
	model := tinyModel(t, graph.Sigmoid)
	metrics := `{"event":"log","epoch":1,"step":50,"loss":300,"recon":290,"penalty":100,"seconds":1}
{"event":"epoch","epoch":1,"step":60,"loss":250,"recon":240,"penalty":80,"seconds":2,"test_recon":190,"test_jacobian_fro":3}
`
	if err := os.WriteFile(filepath.Join(model, "metrics.jsonl"), []byte(metrics), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "rep")
	code, stdout, stderr := runCLI(t, "eval", "--model", model, "--n", "40", "--spectrum-n", "40",
		"--contraction-n", "20", "--radii", "5", "--train-n", "300", "--report", report)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	num := func(k string) float64 {
		v, ok := rep[k].(float64)
		if !ok {
			t.Errorf("report lacks the number %q", k)
		}
		return v
	}
	for _, k := range []string{"saturated_fraction", "dead_unit_fraction", "probe_train_accuracy", "probe_test_accuracy", "knn_accuracy"} {
		if v := num(k); v < 0 || v > 1 {
			t.Errorf("%s = %v, want a fraction", k, v)
		}
	}
	if rep["report_dir"] != report || num("n") != 40 || num("code_units") != 8 {
		t.Errorf("report_dir %v, n %v, code_units %v", rep["report_dir"], rep["n"], rep["code_units"])
	}
	// The spectrum over the same 40 images: Σσ² (float64 SVD) equals the
	// graph's mean ‖J‖²_F (float32) to float32 accuracy.
	sp := rep["spectrum"].(map[string]any)
	if s2, f2 := sp["mean_sum_squares"].(float64), num("test_jacobian_fro2"); math.Abs(s2-f2) > 1e-5*f2 {
		t.Errorf("spectrum Σσ² %v, test_jacobian_fro2 %v", s2, f2)
	}
	if n := len(sp["mean_singular_values"].([]any)); n != 8 {
		t.Errorf("%d singular values, want 8 (the rank bound of an 8×784 Jacobian)", n)
	}
	files := rep["files"].(map[string]any)
	for key, rows := range map[string]int{"contraction_csv": 1 + 5, "spectrum_csv": 1 + 8} {
		path, _ := files[key].(string)
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(recs) != rows {
			t.Errorf("%s: %d rows (%v), want %d", path, len(recs), err, rows)
		}
	}
	for _, key := range []string{"contraction_png", "spectrum_png", "loss_curve_png", "report_json"} {
		path, _ := files[key].(string)
		if st, err := os.Stat(path); err != nil || st.Size() == 0 || filepath.Dir(path) != report {
			t.Errorf("%s: %q missing, empty or outside %s (%v)", key, path, report, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(report, "report.json"))
	if err != nil || !json.Valid(raw) {
		t.Errorf("report.json: %v", err)
	}
	if !strings.Contains(stderr, "linear probe") {
		t.Errorf("stderr shows no progress:\n%s", stderr)
	}
}

func TestEvalQuickAndSkips(t *testing.T) {
	model := tinyModel(t, graph.ReLU)
	code, stdout, stderr := runCLI(t, "eval", "--model", model, "--n", "10", "--quick")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"report_dir", "saturated_fraction", "probe_test_accuracy", "files"} {
		if _, ok := rep[k]; ok {
			t.Errorf("--quick report has %q", k)
		}
	}
	if _, err := os.Stat(filepath.Join(model, "report")); err == nil {
		t.Error("--quick wrote a report folder")
	}

	code, stdout, stderr = runCLI(t, "eval", "--model", model, "--n", "10", "--probe=false", "--spectrum-n", "0", "--contraction-n", "0")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	rep = nil
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"probe_test_accuracy", "knn_accuracy", "spectrum", "contraction"} {
		if _, ok := rep[k]; ok {
			t.Errorf("skipped part %q is in the report", k)
		}
	}
	if rep["saturation_rule"] != "relu: h = 0" || rep["report_dir"] != filepath.Join(model, "report") {
		t.Errorf("saturation_rule %v, report_dir %v", rep["saturation_rule"], rep["report_dir"])
	}
}

func TestEvalUsageErrors(t *testing.T) {
	model := tinyModel(t, graph.Sigmoid)
	for _, args := range [][]string{
		{"--radii", "0"},
		{"--knn-k", "0"},
		{"--spectrum-n", "-1"},
		{"--radius-min", "0"},
		{"--radius-min", "2", "--radius-max", "1"},
		{"--probe-l2", "-1"},
		{"--report", "/proc/caetrain-cannot-write"},
	} {
		code, _, stderr := runCLI(t, append([]string{"eval", "--model", model, "--n", "5"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, args[0]) {
			t.Errorf("%v: exit %d, want 2 and a message naming the flag:\n%s", args, code, stderr)
		}
	}
}

// TestEvalDeadCode: a ReLU model whose units never fire (biases -100) has
// J_h(x) = 0 everywhere; the full report still succeeds, says why it draws
// no spectrum, and reports the zeros.
func TestEvalDeadCode(t *testing.T) {
	cfg := engine.Config{
		Spec:  graph.Spec{Arch: []int{784, 4}, Act: graph.ReLU, OutAct: graph.Sigmoid, Tied: true, Loss: graph.BCE, Lambda: 0.1},
		Batch: 16, Epochs: 1, Adam: engine.DefaultAdam, Seed: 3,
	}
	p, err := graph.NewParams(cfg.Spec, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	engine.GlorotInit(p, cfg.Seed)
	for i, s := range p.Shapes {
		if s.Name == "encoder.0.bias" {
			for j := range p.Tensors[i].Data().([]float32) {
				p.Tensors[i].Data().([]float32)[j] = -100
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := engine.SaveModel(dir, p, engine.NewModelConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "eval", "--model", dir, "--n", "10", "--probe=false", "--contraction-n", "0")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "spectrum.png not drawn") {
		t.Errorf("stderr does not say why there is no spectrum.png:\n%s", stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep["test_jacobian_fro"] != 0.0 {
		t.Errorf("test_jacobian_fro %v, want 0", rep["test_jacobian_fro"])
	}
}
