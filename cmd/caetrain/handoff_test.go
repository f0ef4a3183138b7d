// SPDX-License-Identifier: Apache-2.0

//go:build !gpu

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/engine"
)

// fakeGPUBuild writes a script standing in for a GPU build: `probe` prints
// a device name and exits 0, or fails as a GPU build without a GPU does.
func fakeGPUBuild(t *testing.T, works bool) string {
	t.Helper()
	body := "#!/bin/sh\nif [ \"$1\" = probe ]; then echo 'Fake GPU 9000'; exit 0; fi\nexit 3\n"
	if !works {
		body = "#!/bin/sh\necho 'Error in initialization, please ensure that you have a CUDA-capable device: NoDevice' >&2\nexit 1\n"
	}
	path := filepath.Join(t.TempDir(), "caetrain-gpu")
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDeviceFallback: the CPU build hands --device=auto and --device=cuda
// runs to a GPU build whose probe answers, and otherwise trains on the CPU
// (auto) or exits 2 (cuda), saying why.
func TestDeviceFallback(t *testing.T) {
	var handed []string
	saved := handoff
	handoff = func(path, cmd string, args []string) error { handed = append([]string{path, cmd}, args...); return nil }
	defer func() { handoff = saved }()

	good := fakeGPUBuild(t, true)
	t.Setenv(engine.GPUBinaryEnv, good)
	for _, dev := range []string{"auto", "cuda"} {
		handed = nil
		out := filepath.Join(t.TempDir(), "o")
		code, _, stderr := runCLI(t, "--device", dev, "--max-steps", "1", "--out", out)
		if code != exitOK || len(handed) == 0 || handed[0] != good {
			t.Fatalf("--device=%s with a working GPU build: exit %d, handed %v; stderr:\n%s", dev, code, handed, stderr)
		}
		if !strings.Contains(stderr, "Fake GPU 9000") || !strings.Contains(strings.Join(handed, " "), "--max-steps 1") {
			t.Errorf("--device=%s: stderr should name the GPU and the run's flags should pass on: %v\n%s", dev, handed, stderr)
		}
	}

	bad := fakeGPUBuild(t, false)
	t.Setenv(engine.GPUBinaryEnv, bad)
	handed = nil
	code, _, stderr := runCLI(t, "--device", "auto", "--max-steps", "1", "--out", filepath.Join(t.TempDir(), "o"))
	if code != exitOK || handed != nil || !strings.Contains(stderr, "device: cpu") || !strings.Contains(stderr, "NoDevice") {
		t.Errorf("--device=auto without a GPU: exit %d, handed %v; want the CPU and the reason:\n%s", code, handed, stderr)
	}
	code, _, stderr = runCLI(t, "--device", "cuda", "--max-steps", "1", "--out", filepath.Join(t.TempDir(), "o"))
	if code != exitUsage || !strings.Contains(stderr, "NoDevice") {
		t.Errorf("--device=cuda without a GPU: exit %d, want 2 and the reason:\n%s", code, stderr)
	}
}

// TestFinetuneDeviceFallback: the CPU build hands `finetune --device=cuda`
// to a GPU build whose probe answers, as the command it is, and exits 2
// saying why when there is none.
func TestFinetuneDeviceFallback(t *testing.T) {
	var handed []string
	saved := handoff
	handoff = func(path, cmd string, args []string) error { handed = append([]string{path, cmd}, args...); return nil }
	defer func() { handoff = saved }()
	model := tinyModel(t, "sigmoid")

	good := fakeGPUBuild(t, true)
	t.Setenv(engine.GPUBinaryEnv, good)
	code, _, stderr := runCLI(t, "finetune", "--model", model, "--device", "cuda", "--epochs", "1")
	if code != exitOK || len(handed) < 2 || handed[0] != good || handed[1] != "finetune" || !strings.Contains(strings.Join(handed, " "), "--epochs 1") {
		t.Fatalf("finetune --device=cuda with a working GPU build: exit %d, handed %v; stderr:\n%s", code, handed, stderr)
	}

	t.Setenv(engine.GPUBinaryEnv, fakeGPUBuild(t, false))
	handed = nil
	code, _, stderr = runCLI(t, "finetune", "--model", model, "--device", "cuda", "--epochs", "1")
	if code != exitUsage || handed != nil || !strings.Contains(stderr, "NoDevice") {
		t.Errorf("finetune --device=cuda without a GPU: exit %d, handed %v; want 2 and the reason:\n%s", code, handed, stderr)
	}
}
