// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caetrain/caetrain/internal/npy"
)

// TestTrainOneGBNPY trains on a 1 GiB float32 .npy file (262144 samples of
// 1024 values in [0,1), generated here) and requires the process's peak
// resident memory to stay under 1.5 GB: the array is memory-mapped, the
// test split held out in place and the scaling skipped (the values are in
// [0,1]), so no second copy is made. Then encode, which reads the model's
// data again in chunks (it never holds the array), and eval (its full
// report, which keeps only the rows its parts use) must stay under 0.5 GB. Skipped with -short (it writes
// 1 GiB to the temporary directory) and where less than 3 GB is available.
// Peak memory is the child's ru_maxrss; nothing here is timed.
func TestTrainOneGBNPY(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and trains on a 1 GiB file; skipped with -short")
	}
	if avail, ok := memAvailableForTest(); ok && avail < 3<<30 {
		t.Skipf("only %d MB available", avail>>20)
	}
	bin := caetrainBinary(t)
	const n, dim = 262144, 1024 // 1 GiB of float32
	path := filepath.Join(t.TempDir(), "big.npy")
	writeBigNPY(t, path, n, dim)

	const limit = 1.5e9 // bytes: the bound
	peak := func(args ...string) (int64, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10, string(out) // kB on Linux
	}
	out := filepath.Join(t.TempDir(), "run")
	rss, log := peak("--data", path, "--arch", "16", "--max-steps", "20", "--out", out, "--device", "cpu")
	t.Logf("train: peak RSS %.0f MB", float64(rss)/1e6)
	if rss >= limit {
		t.Errorf("training peaked at %d bytes resident, over %g\n%s", rss, limit, log)
	}
	if !strings.Contains(log, "holding out 26214 of its 262144 samples") {
		t.Errorf("no hold-out note:\n%s", log)
	}
	var mc struct {
		Steps int `json:"steps"`
	}
	if b, err := os.ReadFile(filepath.Join(out, "config.json")); err != nil || json.Unmarshal(b, &mc) != nil || mc.Steps != 20 {
		t.Errorf("config.json: %d steps (%v), want 20", mc.Steps, err)
	}
	rss, log = peak("encode", "--model", out, "--split", "train", "--out", filepath.Join(t.TempDir(), "codes.npy"))
	t.Logf("encode: peak RSS %.0f MB", float64(rss)/1e6)
	if rss >= 0.5e9 {
		t.Errorf("encode peaked at %d bytes resident, over 0.5e9: the file was not read in chunks\n%s", rss, log)
	}
	if !strings.Contains(log, "in chunks") {
		t.Errorf("encode did not say it read the file in chunks:\n%s", log)
	}
	rss, log = peak("eval", "--model", out)
	t.Logf("eval: peak RSS %.0f MB", float64(rss)/1e6)
	if rss >= 0.5e9 || !strings.Contains(log, "in chunks") {
		t.Errorf("eval peaked at %d bytes resident (bound 0.5e9), or did not read in chunks:\n%s", rss, log)
	}
}

// writeBigNPY writes n×dim float32 values in [0,1) from a linear
// congruential generator, streaming.
func writeBigNPY(t *testing.T, path string, n, dim int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := npy.Write(w, "<f4", []int{n, dim}, nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4*dim)
	s := uint32(1)
	for range n {
		for j := range dim {
			s = s*1664525 + 1013904223
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(s>>8)/(1<<24)))
		}
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func memAvailableForTest() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if strings.HasPrefix(line, "MemAvailable:") {
			if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}
