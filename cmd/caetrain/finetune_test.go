// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
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
		{"zero epochs", []string{"finetune", "--model", model, "--epochs", "0"}, exitUsage, "--epochs"},
		{"val too large", []string{"finetune", "--model", model, "--val", "99999"}, exitUsage, "--val"},
		{"negative val", []string{"finetune", "--model", model, "--val", "-1"}, exitUsage, "--val"},
		{"arch with cae", []string{"finetune", "--model", model, "--arch", "784,10"}, exitUsage, "--arch"},
		{"bad device", []string{"finetune", "--model", model, "--device", "tpu"}, exitUsage, "want auto, cpu or cuda"},
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
	events := ndjsonEvents(t, stdout)
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
	rep := runEval(t, out)
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

// TestFinetuneRefit fine-tunes with --val 0: every training sample of the
// embedded sample is trained on (the start event says so), no epoch event
// and no final line carries validation metrics, the last epoch is kept,
// and eval agrees with the test error reported.
func TestFinetuneRefit(t *testing.T) {
	model := tinyModel(t, "sigmoid")
	out := filepath.Join(t.TempDir(), "refit")
	code, stdout, stderr := runCLI(t, "finetune", "--model", model, "--val", "0", "--epochs", "2", "--batch", "50", "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	events := ndjsonEvents(t, stdout)
	if len(events) != 4 || events[0]["event"] != "start" || events[3]["event"] != "final" {
		t.Fatalf("events %v; want start, 2 epochs, final", events)
	}
	if events[0]["val_samples"] != 0.0 || events[0]["train_samples"] != 5800.0 {
		t.Errorf("start: %v train and %v validation samples; want all 5800 of the sample's training set and 0", events[0]["train_samples"], events[0]["val_samples"])
	}
	for _, e := range events[1:] {
		for _, k := range []string{"val_loss", "val_error", "best_val_error", "best_val_loss"} {
			if _, ok := e[k]; ok {
				t.Errorf("%s event has %s without a validation split: %v", e["event"], k, e)
			}
		}
	}
	final := events[3]
	if final["best_epoch"] != 2.0 || final["test_n"] != 1000.0 {
		t.Errorf("final: best_epoch %v over %v test images; want the last epoch, 2, and 1000", final["best_epoch"], final["test_n"])
	}
	rep := runEval(t, out)
	if rep["test_error"] != final["test_error"] {
		t.Errorf("eval: test_error %v; finetune reported %v", rep["test_error"], final["test_error"])
	}
	for _, name := range []string{"learning_curve_loss.png", "learning_curve_error.png", "confusion.png"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestFinetuneOwnData pretrains on a CSV file with a label column (values
// far outside [0,1], so the scaling matters), fine-tunes the CAE on the
// same file without naming the format or the label column again (the
// CAE's config.json says how it was read and scaled), and evaluates the
// classifier: eval reads the test split the same way and reports the same
// test error. Data without labels is refused, naming the file.
func TestFinetuneOwnData(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("a,b,c,d,kind\n")
	for i := range 300 {
		c := i % 3
		fmt.Fprintf(&csv, "%d,%d,%d,%d,%s\n", 100*c+i%7, 50-20*c+i%5, 1000*(c%2)+i%11, i%13, []string{"x", "y", "z"}[c])
	}
	csvPath := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cae := filepath.Join(dir, "cae")
	code, _, stderr := runCLI(t, "--data", csvPath, "--label-col", "kind", "--preset", "rifai", "--arch", "4,6", "--max-steps", "20", "--batch", "30", "--out", cae)
	if code != exitOK {
		t.Fatalf("train: exit %d:\n%s", code, stderr)
	}
	ft := filepath.Join(dir, "ft")
	code, stdout, stderr := runCLI(t, "finetune", "--model", cae, "--val", "70", "--epochs", "3", "--batch", "20", "--out", ft, "--json")
	if code != exitOK {
		t.Fatalf("finetune: exit %d:\n%s", code, stderr)
	}
	var final map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err == nil && e["event"] == "final" {
			final = e
		}
	}
	// 30 of the 300 rows are the test split (train's --val-split 0.1).
	if final == nil || final["test_n"] != 30.0 {
		t.Fatalf("final event %v; want test_n 30\n%s", final, stdout)
	}
	// The classifier's inputs were scaled with the CAE's statistics.
	caeScaling := readConfig(t, cae).DataConfig.Scaling
	var cc engine.ClassifierConfig
	if raw, err := os.ReadFile(filepath.Join(ft, engine.ConfigFile)); err != nil || json.Unmarshal(raw, &cc) != nil {
		t.Fatalf("classifier config.json: %v", err)
	}
	if caeScaling == nil || caeScaling.Kind != "minmax" || cc.DataConfig == nil || !reflect.DeepEqual(cc.DataConfig.Scaling, caeScaling) {
		t.Errorf("classifier's data scaling %+v, want the CAE's minmax scaling %+v", cc.DataConfig, caeScaling)
	}
	rep := runEval(t, ft)
	if rep["test_error"] != final["test_error"] || rep["n"] != 30.0 {
		t.Errorf("eval: test_error %v over %v rows; finetune reported %v over 30", rep["test_error"], rep["n"], final["test_error"])
	}

	// The same rows without the label column: nothing to fine-tune on.
	var plain strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(csv.String()), "\n") {
		plain.WriteString(line[:strings.LastIndexByte(line, ',')] + "\n")
	}
	plainPath := filepath.Join(dir, "plain.csv")
	if err := os.WriteFile(plainPath, []byte(plain.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	noLab := filepath.Join(dir, "nolab")
	code, _, stderr = runCLI(t, "--data", plainPath, "--preset", "rifai", "--arch", "4,6", "--max-steps", "2", "--batch", "30", "--out", noLab)
	if code != exitOK {
		t.Fatalf("train without labels: exit %d:\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, "finetune", "--model", noLab, "--val", "70", "--epochs", "1", "--out", filepath.Join(dir, "ft2"))
	if code != exitFailure || !strings.Contains(stderr, "plain.csv has no labels") {
		t.Errorf("finetune on unlabelled data: exit %d, want %d and a message naming plain.csv:\n%s", code, exitFailure, stderr)
	}
}

// TestFinetuneResumeCLI fine-tunes for 2 epochs, then continues the same
// run to 3 with --resume (as after a kill: the newest checkpoint is the
// second epoch's), and requires the result of an uninterrupted 3-epoch run:
// the same classifier file, the same test error, and metrics.jsonl with
// epochs 1, 2, 3 once each. A fresh run into that folder is refused. It
// does so with a validation split and without one (--val 0, the refit).
func TestFinetuneResumeCLI(t *testing.T) {
	model := tinyModel(t, "sigmoid")
	for _, val := range []string{"800", "0"} {
		t.Run("val"+val, func(t *testing.T) { finetuneResumeCLI(t, model, val) })
	}
}

func finetuneResumeCLI(t *testing.T, model, val string) {
	dir := t.TempDir()
	args := func(out string, epochs string, more ...string) []string {
		return append([]string{"finetune", "--model", model, "--val", val, "--batch", "50", "--epochs", epochs, "--out", out}, more...)
	}
	whole := filepath.Join(dir, "whole")
	if code, _, stderr := runCLI(t, args(whole, "3")...); code != exitOK {
		t.Fatalf("whole run: exit %d:\n%s", code, stderr)
	}
	split := filepath.Join(dir, "split")
	if code, _, stderr := runCLI(t, args(split, "2")...); code != exitOK {
		t.Fatalf("first part: exit %d:\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, args(split, "3", "--resume")...)
	if code != exitOK || !strings.Contains(stderr, "resuming") || !strings.Contains(stderr, "epoch 2 of 3") {
		t.Fatalf("resume: exit %d:\n%s", code, stderr)
	}
	a, err := os.ReadFile(filepath.Join(whole, engine.ClassifierFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(split, engine.ClassifierFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("the resumed run's %s differs from the uninterrupted run's", engine.ClassifierFile)
	}
	raw, err := os.ReadFile(filepath.Join(split, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%v %v", e["event"], e["epoch"]))
	}
	if want := []string{"epoch 1", "epoch 2", "epoch 3", "final <nil>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("metrics.jsonl events %v, want %v", got, want)
	}
	if code, _, stderr := runCLI(t, args(split, "3")...); code != exitUsage || !strings.Contains(stderr, "--resume") {
		t.Errorf("fresh run into a folder with checkpoints: exit %d, want %d and a hint at --resume:\n%s", code, exitUsage, stderr)
	}
	if code, _, stderr := runCLI(t, args(filepath.Join(dir, "none"), "3", "--resume")...); code != exitFailure || !strings.Contains(stderr, "no checkpoints") {
		t.Errorf("--resume without checkpoints: exit %d, want %d:\n%s", code, exitFailure, stderr)
	}
}

// ndjsonEvents parses the NDJSON lines a --json command printed.
func ndjsonEvents(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("stdout line is not JSON: %v\n%s", err, line)
		}
		events = append(events, e)
	}
	return events
}

// runEval runs caetrain eval on a fine-tuned classifier and returns its
// JSON report.
func runEval(t *testing.T, dir string) map[string]any {
	t.Helper()
	code, stdout, stderr := runCLI(t, "eval", "--model", dir)
	if code != exitOK {
		t.Fatalf("eval: exit %d:\n%s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval: %v\n%s", err, stdout)
	}
	return rep
}
