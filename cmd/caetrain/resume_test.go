// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caetrain/caetrain/engine"
)

// The real-process tests share one binary and one uninterrupted reference
// run, built on first use.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error

	refOnce sync.Once
	refDir  string
	refErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// caetrainBinary builds the command once per test run.
func caetrainBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "caetrain-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "caetrain")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// killArgs is the run the real-process tests interrupt: about 2 s of
// training over 3 epochs of the embedded sample, with a checkpoint every 7
// steps (so that they fall mid-epoch and off the log lines too).
var killArgs = []string{"--arch", "784,32,16", "--batch", "128", "--max-steps", "120", "--checkpoint-every", "7", "--log-every", "10"}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running caetrain.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when it has exited
	code   int           // its exit status once done; -1 if a signal killed it
}

// start starts the binary on killArgs writing into out, plus extra flags.
func start(t *testing.T, out string, extra ...string) *proc {
	t.Helper()
	p := &proc{stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(caetrainBinary(t), append(append(append([]string{}, killArgs...), "--out", out), extra...)...)
	p.cmd.Env = append(os.Environ(), "CAETRAIN_DATA=")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p
}

// wait waits for p to exit and returns its exit status.
func (p *proc) wait() int {
	<-p.done
	return p.code
}

// reference runs killArgs uninterrupted, once.
func reference(t *testing.T) string {
	t.Helper()
	caetrainBinary(t)
	refOnce.Do(func() {
		refDir = filepath.Join(binDir, "reference")
		p := start(t, refDir)
		if code := p.wait(); code != 0 {
			refErr = fmt.Errorf("reference run: exit %d\n%s", code, p.stderr)
		}
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refDir
}

// newestStep is the step of the newest checkpoint in out, or -1.
func newestStep(out string) int {
	files, _ := engine.ListCheckpoints(out)
	if len(files) == 0 {
		return -1
	}
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(files[0]), "ckpt-"), ".bin")
	n, _ := strconv.Atoi(name)
	return n
}

// waitForStep polls until out has a checkpoint of at least step, or cmd has
// exited (done is closed), or 20 s pass.
func waitForStep(t *testing.T, out string, step int, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for newestStep(out) < step {
		select {
		case <-done:
			return
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of step %d after 20 s", step)
		}
	}
}

// sameRun checks that the run in got ended exactly as the reference: the
// same model bytes, and the same metrics but for wall times.
func sameRun(t *testing.T, got, ref string) {
	t.Helper()
	for _, name := range []string{engine.ModelFile, engine.ConfigFile} {
		a, err1 := os.ReadFile(filepath.Join(ref, name))
		b, err2 := os.ReadFile(filepath.Join(got, name))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", name, err1, err2)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the uninterrupted run's", name)
		}
	}
	if a, b := metricsLines(t, ref), metricsLines(t, got); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("metrics.jsonl differs from the uninterrupted run's:\n%s\nwant\n%s", strings.Join(b, "\n"), strings.Join(a, "\n"))
	}
}

// metricsLines reads metrics.jsonl without the wall-time fields.
func metricsLines(t *testing.T, dir string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		delete(m, "seconds")
		delete(m, "samples_per_s")
		js, _ := json.Marshal(m)
		lines = append(lines, string(js))
	}
	return lines
}

// TestKillAndResume kills real training processes with SIGKILL at random
// moments, once or twice, resumes them with --resume, and requires the
// same final weights, bit for bit, and the same metrics as the
// uninterrupted run. CAETRAIN_KILL_SEED replays a failing draw.
func TestKillAndResume(t *testing.T) {
	ref := reference(t)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CAETRAIN_KILL_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("CAETRAIN_KILL_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i, kills := range []int{1, 1, 2} {
		t.Run(fmt.Sprintf("%d kills #%d", kills, i), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			for k := 0; k < kills; k++ {
				var p *proc
				if k == 0 {
					p = start(t, out)
				} else {
					p = start(t, out, "--resume")
				}
				// Past a random step (there is then a checkpoint to
				// resume from), then a random moment more.
				target := min(max(newestStep(out), 0)+1+rng.IntN(100), 110)
				waitForStep(t, out, target, p.done)
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				p.cmd.Process.Signal(syscall.SIGKILL)
				if code := p.wait(); code != -1 {
					t.Logf("kill %d: the run ended (exit %d) before it was killed", k+1, code)
				} else {
					t.Logf("kill %d: killed past step %d (newest checkpoint %d)", k+1, target, newestStep(out))
				}
			}
			p := start(t, out, "--resume")
			if code := p.wait(); code != 0 {
				t.Fatalf("--resume: exit %d\n%s", code, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), "resuming from ") {
				t.Errorf("stderr does not say where it resumed from:\n%s", p.stderr)
			}
			sameRun(t, out, ref)
		})
	}
}

// TestSignalWritesCheckpoint: SIGINT and SIGTERM stop a real run with exit
// status 130 after writing a checkpoint of the step it reached; resuming
// from it ends as the uninterrupted run.
func TestSignalWritesCheckpoint(t *testing.T) {
	ref := reference(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			// --checkpoint-every 0: only epoch ends, so the checkpoint
			// found after the signal is the one the signal wrote.
			p := start(t, out, "--checkpoint-every", "0")
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(p.stderr.String(), "step 20/") && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond) // a log line at step 20
			}
			p.cmd.Process.Signal(sig)
			if code := p.wait(); code != exitInterrupted {
				t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, p.stderr)
			}
			msg := p.stderr.String()
			var steps int
			if i := strings.Index(msg, "interrupted after "); i < 0 {
				t.Fatalf("stderr does not say it was interrupted:\n%s", msg)
			} else {
				fmt.Sscanf(msg[i:], "interrupted after %d steps", &steps)
			}
			want := filepath.Join(out, engine.CheckpointDir, engine.CheckpointName(steps))
			if !strings.Contains(msg, want) || !strings.Contains(msg, "--resume --out "+out) {
				t.Errorf("stderr should name the checkpoint %s and how to resume:\n%s", want, msg)
			}
			c, err := engine.ReadCheckpoint(want)
			if err != nil {
				t.Fatalf("the checkpoint written on %v: %v", sig, err)
			}
			if c.Step != steps || steps < 20 {
				t.Errorf("checkpoint of step %d, stopped after %d", c.Step, steps)
			}
			p = start(t, out, "--resume")
			if code := p.wait(); code != 0 {
				t.Fatalf("--resume: exit %d\n%s", code, p.stderr)
			}
			sameRun(t, out, ref)
		})
	}
}

// smallArgs is a fast in-process run: 23 steps per epoch.
func smallArgs(out string, extra ...string) []string {
	return append([]string{"--arch", "784,16,8", "--batch", "256", "--max-steps", "30", "--checkpoint-every", "5", "--log-every", "5", "--out", out}, extra...)
}

// TestResumeFallsBack: damaged newer checkpoints are reported by name,
// moved aside, and the run resumes from the newest intact one and ends as
// the uninterrupted run; with none intact, resuming fails naming each file.
func TestResumeFallsBack(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	if code, _, stderr := runCLI(t, smallArgs(ref)...); code != exitOK {
		t.Fatalf("reference: exit %d\n%s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, smallArgs(out, "--max-steps", "22")...); code != exitOK {
		t.Fatalf("first part: exit %d\n%s", code, stderr)
	}
	path := func(step int) string { return filepath.Join(out, engine.CheckpointDir, engine.CheckpointName(step)) }
	files, _ := engine.ListCheckpoints(out)
	if want := []string{path(22), path(20), path(15)}; strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("checkpoints %v, want %v", files, want)
	}
	raw, _ := os.ReadFile(path(22))
	os.WriteFile(path(22), raw[:len(raw)/3], 0o644) // truncated
	raw, _ = os.ReadFile(path(20))
	raw[len(raw)/2] ^= 8 // one bit flipped
	os.WriteFile(path(20), raw, 0o644)

	code, _, stderr := runCLI(t, "--resume", "--out", out, "--max-steps", "30")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"skipping a damaged checkpoint: " + path(22) + ": checksum mismatch",
		"skipping a damaged checkpoint: " + path(20) + ": checksum mismatch",
		"moved it aside to " + path(22) + ".damaged",
		"resuming from " + path(15) + " (step 15",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	sameRun(t, out, ref)

	// No intact checkpoint at all.
	files, _ = engine.ListCheckpoints(out)
	for _, f := range files {
		os.WriteFile(f, []byte("garbage"), 0o644)
	}
	code, _, stderr = runCLI(t, "--resume", "--out", out)
	if code != exitFailure {
		t.Errorf("exit %d, want 1\n%s", code, stderr)
	}
	for _, f := range files {
		if !strings.Contains(stderr, f) {
			t.Errorf("stderr does not name %s:\n%s", f, stderr)
		}
	}
}

// TestResumeFlags: --resume continues a run with its own settings; flags
// that would change the model or the order of the data are usage errors
// naming the flag, as is resuming nothing or starting afresh over a run.
func TestResumeFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, smallArgs(out, "--max-steps", "5")...); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"resume without --out", []string{"--resume"}, exitUsage, "--resume needs --out"},
		{"resume where there is no run", []string{"--resume", "--out", empty}, exitUsage, "--resume: no checkpoints in " + empty},
		{"other batch", []string{"--resume", "--out", out, "--batch", "64"}, exitUsage, "--batch 64: the run in " + out + " was trained with --batch 256"},
		{"other arch", []string{"--resume", "--out", out, "--arch", "784,16"}, exitUsage, "--arch 784,16"},
		{"other activation", []string{"--resume", "--out", out, "--act", "tanh"}, exitUsage, "--act tanh"},
		{"other seed", []string{"--resume", "--out", out, "--seed", "9"}, exitUsage, "--seed 9"},
		{"other preset", []string{"--resume", "--out", out, "--preset", "rifai"}, exitUsage, "--preset rifai"},
		{"other data", []string{"--resume", "--out", out, "--data", smallData(t)}, exitUsage, "--data"},
		{"new run over a run", smallArgs(out), exitUsage, "--out " + out + ": holds the checkpoints"},
		{"negative checkpoint-every", []string{"--checkpoint-every", "-1"}, exitUsage, "--checkpoint-every -1"},
		{"same settings, more steps", []string{"--resume", "--out", out, "--max-steps", "8", "--batch", "256", "--arch", "784,16,8"}, exitOK, "resuming from " + filepath.Join(out, engine.CheckpointDir, engine.CheckpointName(5))},
		{"smaller lr and lambda", []string{"--resume", "--out", out, "--max-steps", "10", "--lr", "1e-4", "--lambda", "10"}, exitOK, "continuing with --lr 0.0001 --lambda 10 (the run so far used --lr 0.001 --lambda 100)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// smallData writes a data directory of 4 training images of 784 pixels
// (so its width fits, but it is not the run's data).
func smallData(t *testing.T) string {
	dir := t.TempDir()
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), 0x803, []uint32{4, 28, 28}, make([]byte, 4*784))
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), 0x801, []uint32{4}, []byte{1, 2, 3, 4})
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), 0x803, []uint32{2, 28, 28}, make([]byte, 2*784))
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), 0x801, []uint32{2}, []byte{0, 9})
	return dir
}

// TestUsageErrorsDoNoWork: a bad flag exits 2 naming it before any work:
// the data is not loaded and --out is not created (or is removed again when
// only the data could show the problem).
func TestUsageErrorsDoNoWork(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     string
		loadData bool
	}{
		{"batch 0", []string{"--batch", "0"}, "--batch 0", false},
		{"negative lambda", []string{"--lambda", "-1"}, "--lambda -1", false},
		{"unknown activation", []string{"--act", "gelu"}, "--act \"gelu\"", false},
		{"negative epochs", []string{"--epochs", "-2"}, "--epochs -2", false},
		{"negative max-steps", []string{"--max-steps", "-2"}, "--max-steps -2", false},
		{"zero log-every", []string{"--log-every", "0"}, "--log-every 0", false},
		{"negative checkpoint-every", []string{"--checkpoint-every", "-5"}, "--checkpoint-every -5", false},
		{"bad device", []string{"--device", "tpu"}, "--device", false},
		{"input width", []string{"--arch", "1000,10"}, "--arch 1000,10", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := runCLI(t, append(tc.args, "--out", out)...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if loaded := strings.Contains(stderr, "embedded sample"); loaded != tc.loadData {
				t.Errorf("data loaded: %v, want %v\n%s", loaded, tc.loadData, stderr)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("--out %s exists after a usage error (%v)", out, err)
			}
		})
	}
	// An --out that cannot be written: a file in the way.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	code, _, stderr := runCLI(t, "--out", filepath.Join(file, "sub"))
	if code != exitUsage || !strings.Contains(stderr, "--out "+filepath.Join(file, "sub")) || strings.Contains(stderr, "embedded sample") {
		t.Errorf("unwritable --out: exit %d\n%s", code, stderr)
	}
}

// TestDivergenceKeepsLastGoodCheckpoint: a run whose loss becomes infinite
// stops with exit 1, suggests --lr and --lambda, writes no checkpoint of the
// failed step, and leaves the last good one.
func TestDivergenceKeepsLastGoodCheckpoint(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI(t, smallArgs(out, "--lr", "1e6", "--checkpoint-every", "1")...)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	// The CPU finds the bad step at once; the CUDA VM when it reads its
	// results back, but it names the same step.
	var at int
	if i := strings.Index(stderr, "diverged at step "); i < 0 {
		t.Fatalf("stderr does not say it diverged:\n%s", stderr)
	} else {
		fmt.Sscanf(stderr[i:], "diverged at step %d", &at)
	}
	if want := fmt.Sprintf("the last good weights (step %d)", at-1); !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	last := filepath.Join(out, engine.CheckpointDir, engine.CheckpointName(at-1))
	for _, want := range []string{"--lr", "--lambda", "last good checkpoint is " + last} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got := newestStep(out); got != at-1 {
		t.Errorf("newest checkpoint is of step %d; the last good step is %d", got, at-1)
	}
	if _, err := engine.ReadCheckpoint(last); err != nil {
		t.Errorf("the last good checkpoint: %v", err)
	}
	if _, _, err := engine.LoadModel(out); err != nil {
		t.Errorf("model.safetensors after divergence: %v", err)
	}
}

// limitWriter fails with ENOSPC after n bytes.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		k, _ := l.w.Write(p[:l.n])
		l.n = 0
		return k, &os.PathError{Op: "write", Path: "checkpoint", Err: syscall.ENOSPC}
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// TestDiskFullDuringCheckpoint: the disk fills while the third checkpoint is
// written: the run fails with exit 1 and an error that says so and names
// the intact previous checkpoint, which still reads back, and no partial
// file is left; --resume then continues from it.
func TestDiskFullDuringCheckpoint(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	n := 0
	wrapCheckpointWriter = func(w io.Writer) io.Writer {
		if n++; n >= 3 {
			return &limitWriter{w: w, n: 1000}
		}
		return w
	}
	defer func() { wrapCheckpointWriter = nil }()
	code, _, stderr := runCLI(t, smallArgs(out)...)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	prev := filepath.Join(out, engine.CheckpointDir, engine.CheckpointName(10))
	for _, want := range []string{"saving the checkpoint of step 15", "no space left on device", engine.CheckpointName(15), "the previous checkpoint, " + prev + " (step 10), is intact"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(out, engine.CheckpointDir))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{engine.CheckpointName(5), engine.CheckpointName(10)}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("checkpoint directory holds %v, want %v", names, want)
	}
	if _, err := engine.ReadCheckpoint(prev); err != nil {
		t.Error(err)
	}
	wrapCheckpointWriter = nil
	if code, _, stderr := runCLI(t, "--resume", "--out", out); code != exitOK || !strings.Contains(stderr, "resuming from "+prev) {
		t.Errorf("--resume after the disk filled: exit %d\n%s", code, stderr)
	}
}
