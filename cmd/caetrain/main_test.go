// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("CAETRAIN_DATA", "") // use --data or the embedded sample, whatever the machine has
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	if strings.Contains(errb.String(), "goroutine ") || strings.Contains(errb.String(), "internal error") {
		t.Errorf("%v: a panic reached the user:\n%s", args, errb.String())
	}
	return code, out.String(), errb.String()
}

func TestHelpAndUsageErrors(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"help", []string{"-h"}, exitOK, "-device"},
		{"eval help", []string{"eval", "-h"}, exitOK, "test_jacobian_fro"},
		{"unknown flag", []string{"--bogus"}, exitUsage, "bogus"},
		{"stray argument", []string{"foo"}, exitUsage, `"foo"`},
		{"cuda in a CPU build", []string{"--device=cuda", "--out", out}, exitUsage, "-tags gpu"},
		{"bad device", []string{"--device=tpu"}, exitUsage, "tpu"},
		{"batch 0", []string{"--batch", "0"}, exitUsage, "--batch"},
		{"negative lambda", []string{"--lambda", "-1"}, exitUsage, "--lambda"},
		{"unknown activation", []string{"--act", "swish"}, exitUsage, "--act"},
		{"unknown loss", []string{"--loss", "l1"}, exitUsage, "--loss"},
		{"bce with linear output", []string{"--loss", "bce"}, exitUsage, "--out-act sigmoid"},
		{"bad arch", []string{"--arch", "784,x"}, exitUsage, "--arch"},
		{"unknown preset", []string{"--preset", "huge"}, exitUsage, "--preset"},
		{"zero lr", []string{"--lr", "0"}, exitUsage, "--lr"},
		{"negative hess-gamma", []string{"--hess-gamma", "-1"}, exitUsage, "--hess-gamma"},
		{"zero hess-sigma", []string{"--hess-gamma", "0.1", "--hess-sigma", "0"}, exitUsage, "--hess-sigma"},
		{"zero hess-copies", []string{"--hess-gamma", "0.1", "--hess-copies", "0"}, exitUsage, "--hess-copies"},
		{"unknown vm", []string{"--vm", "jit"}, exitUsage, "--vm"},
		{"arch does not fit the data", []string{"--arch", "1000,10", "--out", out}, exitUsage, "--arch 1000,10: the input width 1000 does not match the data's 784"},
		{"unwritable out", []string{"--out", "/proc/caetrain-cannot-write"}, exitUsage, "--out"},
		{"eval without model", []string{"eval"}, exitUsage, "--model"},
		{"eval of nothing", []string{"eval", "--model", filepath.Join(out, "none")}, exitFailure, "config.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if engine.CUDABuild && tc.name == "cuda in a CPU build" {
				t.Skip("a gpu build (TestGPUBuildTrainsOnCUDA covers --device=cuda there)")
			}
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// TestTrainThenEval trains a few steps on the embedded sample with --json,
// checks every output file and event, then evaluates the model.
func TestTrainThenEval(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, "--max-steps", "12", "--log-every", "5", "--batch", "64", "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	dev := "device: cpu"
	if engine.CUDABuild {
		dev = "device: cuda" // a gpu build runs only where a (possibly emulated) device answers
	}
	if !strings.Contains(stderr, "embedded sample") || !strings.Contains(stderr, dev) {
		t.Errorf("stderr should name the data and the device:\n%s", stderr)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line is not JSON: %q", sc.Text())
		}
		events = append(events, e)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e["event"].(string))
	}
	if got := strings.Join(kinds, ","); got != "start,log,log,epoch,final,done" {
		t.Errorf("events %s, want start,log,log,epoch,final,done", got)
	}
	for _, f := range []string{"model.safetensors", "config.json", "metrics.jsonl", "reconstructions.png", "loss_curve.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var final map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &final); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"epoch", "step", "loss", "recon", "penalty", "test_recon", "test_jacobian_fro", "samples_per_s", "device"} {
		if _, ok := final[k]; !ok {
			t.Errorf("final metrics line lacks %q: %s", k, lines[len(lines)-1])
		}
	}
	if final["step"].(float64) != 12 {
		t.Errorf("final step %v, want 12", final["step"])
	}

	code, stdout, stderr = runCLI(t, "eval", "--model", out, "--n", "25")
	if code != exitOK {
		t.Fatalf("eval exit %d:\n%s", code, stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("eval output is not one JSON object: %q", stdout)
	}
	for _, k := range []string{"test_recon", "test_jacobian_fro", "test_jacobian_fro2"} {
		if v, ok := ev[k].(float64); !ok || !(v > 0) {
			t.Errorf("eval %s = %v, want a positive number", k, ev[k])
		}
	}
	if ev["n"].(float64) != 25 {
		t.Errorf("eval n = %v, want 25", ev["n"])
	}
	fro, fro2 := ev["test_jacobian_fro"].(float64), ev["test_jacobian_fro2"].(float64)
	if fro*fro > fro2*(1+1e-9) { // Jensen: (E‖J‖)² ≤ E‖J‖²
		t.Errorf("(mean ‖J‖_F)² = %v exceeds mean ‖J‖²_F = %v", fro*fro, fro2)
	}
}

// writeIDX writes an IDX file (gzip) with the given magic and dims and body.
func writeIDX(t *testing.T, path string, magic uint32, dims []uint32, body []byte) {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(body)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b.Bytes())
	w.Close()
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedData: damaged IDX files give a clear error naming the file,
// exit 1, and never a panic.
func TestMalformedData(t *testing.T) {
	good := func(dir string) {
		writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), 0x803, []uint32{4, 28, 28}, make([]byte, 4*784))
		writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), 0x801, []uint32{4}, []byte{1, 2, 3, 4})
		writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), 0x803, []uint32{2, 28, 28}, make([]byte, 2*784))
		writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), 0x801, []uint32{2}, []byte{0, 9})
	}
	tests := []struct {
		name, file string
		damage     func(path string)
		want       string
	}{
		{"truncated images", "train-images-idx3-ubyte.gz", func(p string) {
			writeIDX(t, p, 0x803, []uint32{4, 28, 28}, make([]byte, 3*784))
		}, "train-images-idx3-ubyte.gz"},
		{"labels for images", "t10k-images-idx3-ubyte.gz", func(p string) {
			writeIDX(t, p, 0x801, []uint32{2}, []byte{0, 1})
		}, "t10k-images-idx3-ubyte.gz"},
		{"label out of range", "train-labels-idx1-ubyte.gz", func(p string) {
			writeIDX(t, p, 0x801, []uint32{4}, []byte{1, 2, 30, 4})
		}, "train-labels-idx1-ubyte.gz"},
		{"count mismatch", "t10k-labels-idx1-ubyte.gz", func(p string) {
			writeIDX(t, p, 0x801, []uint32{3}, []byte{0, 1, 2})
		}, "t10k"},
		{"huge claimed count", "train-images-idx3-ubyte.gz", func(p string) {
			writeIDX(t, p, 0x803, []uint32{1 << 31, 28, 28}, make([]byte, 784))
		}, "train-images-idx3-ubyte.gz"},
		{"not gzip, not IDX", "train-images-idx3-ubyte.gz", func(p string) {
			os.WriteFile(p, []byte("hello, world"), 0o644)
		}, "train-images-idx3-ubyte.gz"},
		{"missing file", "t10k-labels-idx1-ubyte.gz", func(p string) { os.Remove(p) }, "t10k-labels-idx1-ubyte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			good(dir)
			tc.damage(filepath.Join(dir, tc.file))
			code, _, stderr := runCLI(t, "--data", dir, "--max-steps", "1", "--out", filepath.Join(t.TempDir(), "o"))
			if code != exitFailure {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not name %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// TestCAEHTraining trains with the CAE+H term from the command line on the
// reference VM and checks that the term is reported and recorded.
func TestCAEHTraining(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI(t, "--arch", "784,32", "--act", "sigmoid", "--out-act", "sigmoid", "--loss", "bce", "--lambda", "0.1",
		"--hess-gamma", "0.5", "--hess-sigma", "0.2", "--hess-copies", "2", "--vm", "gorgonia",
		"--max-steps", "4", "--log-every", "2", "--batch", "32", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(raw), "\n", 2)[0]), &first); err != nil {
		t.Fatal(err)
	}
	if h, ok := first["hess"].(float64); !ok || !(h > 0) {
		t.Errorf("first metrics line has hess %v, want a positive number: %s", first["hess"], raw)
	}
	cfg, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), `"hess_gamma": 0.5`) {
		t.Errorf("config.json does not record the CAE+H term:\n%s", cfg)
	}
}
