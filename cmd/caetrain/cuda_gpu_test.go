// SPDX-License-Identifier: Apache-2.0

//go:build gpu

package main

// The gpu build's command line on its CUDA device. Without a GPU, run it
// under the emulated driver (kernels/cudaemu; README, "GPUs"):
//
//	LD_LIBRARY_PATH=$PWD/kernels/cudaemu/build go test -tags gpu ./cmd/caetrain

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
)

// TestGPUBuildTrainsOnCUDA: --device=cuda trains on the device, writes
// checkpoints, is resumed from one to the same weights as the
// uninterrupted run (within float32 rounding: the device's sums are not
// the CPU's, but the same device repeats itself), and the model
// evaluates. An emulated device says so on stderr.
func TestGPUBuildTrainsOnCUDA(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	code, _, stderr := runCLI(t, smallArgs(ref, "--device", "cuda")...)
	if code != exitOK {
		t.Fatalf("--device=cuda: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "device: cuda") {
		t.Errorf("stderr does not name the device:\n%s", stderr)
	}
	name, err := engine.ProbeDevice()
	if err != nil {
		t.Fatal(err)
	}
	if engine.Emulated(name) && !strings.Contains(stderr, "EMULATED") {
		t.Errorf("the device %q is emulated but stderr does not say so:\n%s", name, stderr)
	}
	var cfg map[string]any
	raw, err := os.ReadFile(filepath.Join(ref, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg["device"] != "cuda" {
		t.Errorf("config.json: device %v (%v), want cuda", cfg["device"], err)
	}

	// Stop at step 20 (checkpoints every 5), then resume to 30.
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, smallArgs(out, "--device", "cuda", "--max-steps", "20")...); code != exitOK {
		t.Fatalf("first part: exit %d\n%s", code, stderr)
	}
	if got := newestStep(out); got != 20 {
		t.Fatalf("newest checkpoint of step %d, want 20", got)
	}
	if code, _, stderr := runCLI(t, "--resume", "--out", out, "--max-steps", "30", "--device", "cuda"); code != exitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	a, _, err := engine.LoadModel(ref)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := engine.LoadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Tensors {
		x, y := a.Tensors[i].Data().([]float32), b.Tensors[i].Data().([]float32)
		for j := range x {
			if x[j] != y[j] {
				t.Fatalf("%s[%d]: %v uninterrupted, %v resumed: the device does not repeat itself", a.Shapes[i].Name, j, x[j], y[j])
			}
		}
	}

	code, stdout, stderr := runCLI(t, "eval", "--model", out, "--quick")
	if code != exitOK {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("eval output %q: %v", stdout, err)
	}
	if r, ok := ev["test_recon"].(float64); !ok || !(r > 0) {
		t.Errorf("eval: test_recon %v", ev["test_recon"])
	}
}

// TestDefaultBuildHandsOverToGPUBuild: the default (CPU) build, with a
// gpu build next to it, hands --device=cuda to it, and the run trains on
// the device. It builds both binaries, so it needs the go command (it is
// skipped where there is none, as on a GPU machine with test binaries
// only).
func TestDefaultBuildHandsOverToGPUBuild(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the two binaries")
	}
	dir := t.TempDir()
	for _, b := range [][]string{
		{"build", "-o", filepath.Join(dir, "caetrain"), "."},
		{"build", "-tags", "gpu", "-o", filepath.Join(dir, "caetrain-gpu"), "."},
	} {
		if out, err := exec.Command(gobin, b...).CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	out := filepath.Join(dir, "run")
	cmd := exec.Command(filepath.Join(dir, "caetrain"), "--device=cuda", "--arch", "784,16,8", "--batch", "64",
		"--max-steps", "10", "--out", out)
	cmd.Env = append(os.Environ(), "CAETRAIN_DATA=", "CAETRAIN_GPU=")
	stderr, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("caetrain --device=cuda: %v\n%s", err, stderr)
	}
	if !strings.Contains(string(stderr), "device: cuda") {
		t.Errorf("the run did not train on cuda:\n%s", stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil || !strings.Contains(string(raw), `"device": "cuda"`) {
		t.Errorf("config.json (%v) does not say cuda:\n%s", err, raw)
	}
}

// TestGPUBuildFinetunesOnCUDA: finetune --device=cuda fine-tunes on the
// device (config.json says cuda), and the classifier's test error, which
// eval measures again on the CPU, agrees with what the CUDA run reported
// to within one image (float32 rounding may move a sample across a
// decision boundary).
func TestGPUBuildFinetunesOnCUDA(t *testing.T) {
	model := tinyModel(t, "sigmoid")
	out := filepath.Join(t.TempDir(), "ft")
	code, stdout, stderr := runCLI(t, "finetune", "--model", model, "--val", "800", "--epochs", "2", "--batch", "50", "--device", "cuda", "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("finetune --device=cuda: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "device: cuda") {
		t.Errorf("stderr does not name the device:\n%s", stderr)
	}
	var final map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["event"] == "final" {
			final = e
		}
	}
	var cc engine.ClassifierConfig
	if raw, err := os.ReadFile(filepath.Join(out, "config.json")); err != nil || json.Unmarshal(raw, &cc) != nil || cc.Device != "cuda" {
		t.Errorf("config.json: device %q (%v), want cuda", cc.Device, err)
	}
	code, stdout, stderr = runCLI(t, "eval", "--model", out)
	if code != exitOK {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || final == nil {
		t.Fatalf("eval: %v; final event %v", err, final)
	}
	if d := rep["test_errors"].(float64) - final["test_errors"].(float64); d < -1 || d > 1 {
		t.Errorf("test errors: %v on the CPU, %v reported by the CUDA run", rep["test_errors"], final["test_errors"])
	}
}
