// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFinetuneUsageErrors(t *testing.T) {
	model := tinyModel(t, "sigmoid")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"help", []string{"finetune", "-h"}, exitOK, "classifier.safetensors"},
		{"no model", []string{"finetune"}, exitUsage, "--model"},
		{"bad init", []string{"finetune", "--init", "zero"}, exitUsage, "--init"},
		{"cuda", []string{"finetune", "--model", model, "--device", "cuda"}, exitUsage, "softmax cross-entropy"},
		{"zero epochs", []string{"finetune", "--model", model, "--epochs", "0"}, exitUsage, "--epochs"},
		{"val too large", []string{"finetune", "--model", model, "--val", "99999"}, exitUsage, "--val"},
		{"arch with cae", []string{"finetune", "--model", model, "--arch", "784,10"}, exitUsage, "--arch"},
		{"bad optimizer", []string{"finetune", "--model", model, "--optimizer", "rmsprop"}, exitUsage, "--optimizer"},
		{"momentum 1", []string{"finetune", "--model", model, "--optimizer", "sgd", "--momentum", "1"}, exitUsage, "--momentum"},
		{"negative weight decay", []string{"finetune", "--model", model, "--weight-decay", "-1"}, exitUsage, "--weight-decay"},
		{"no such model", []string{"finetune", "--model", filepath.Join(t.TempDir(), "none")}, exitFailure, "config.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr lacks %q?\n%s", code, tc.code, tc.want, stderr)
			}
		})
	}
}

// TestFinetuneThenEval fine-tunes a small CAE on the embedded sample with
// --json, checks the events, metrics.jsonl and files, and that `caetrain
// eval` on the result reports the same test error over all 1,000 test
// images of the sample; then trains the random-init baseline.
func TestFinetuneThenEval(t *testing.T) {
	model := tinyModel(t, "sigmoid")
	out := filepath.Join(t.TempDir(), "ft")
	code, stdout, stderr := runCLI(t, "finetune", "--model", model, "--val", "800", "--epochs", "2", "--batch", "50", "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line is not JSON: %v\n%s", err, sc.Text())
		}
		events = append(events, e)
	}
	if len(events) != 4 || events[0]["event"] != "start" || events[1]["event"] != "epoch" || events[3]["event"] != "final" {
		t.Fatalf("events %v; want start, 2 epochs, final", events)
	}
	final := events[3]
	if final["test_n"] != 1000.0 {
		t.Errorf("test_n %v, want all 1000 test images of the sample", final["test_n"])
	}
	te := final["test_error"].(float64)
	if !(te > 0 && te < 0.9) {
		t.Errorf("test_error %v", te)
	}
	for _, k := range []string{"train_loss", "train_error", "val_loss", "val_error"} {
		if _, ok := events[1][k]; !ok {
			t.Errorf("epoch event lacks %s: %v", k, events[1])
		}
	}
	for _, name := range []string{"classifier.safetensors", "config.json", "metrics.jsonl", "confusion.png", "learning_curve_loss.png", "learning_curve_error.png"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); n != 3 {
		t.Errorf("metrics.jsonl has %d lines, want 2 epochs and the final line", n)
	}
	code, stdout, stderr = runCLI(t, "eval", "--model", out)
	if code != exitOK {
		t.Fatalf("eval: exit %d:\n%s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval: %v\n%s", err, stdout)
	}
	if rep["test_error"] != te || rep["n"] != 1000.0 {
		t.Errorf("eval: test_error %v over %v images; finetune reported %v over 1000", rep["test_error"], rep["n"], te)
	}

	rnd := filepath.Join(t.TempDir(), "random")
	code, _, stderr = runCLI(t, "finetune", "--init", "random", "--arch", "784,8", "--val", "800", "--epochs", "1", "--out", rnd)
	if code != exitOK {
		t.Fatalf("--init random: exit %d:\n%s", code, stderr)
	}
	raw, err = os.ReadFile(filepath.Join(rnd, "config.json"))
	if err != nil || !strings.Contains(string(raw), `"init": "random"`) {
		t.Errorf("--init random config.json: %v\n%s", err, raw)
	}
}
