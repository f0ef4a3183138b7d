// SPDX-License-Identifier: Apache-2.0

//go:build !gpu

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// CUDABuild reports whether this binary was built with the gpu tag.
const CUDABuild = false

// GPUBinaryEnv names the environment variable that points a CPU build at a
// GPU build of caetrain to hand CUDA runs to.
const GPUBinaryEnv = "CAETRAIN_GPU"

// GPUBinaryName is the GPU build's file name looked for next to this
// binary and in $PATH.
const GPUBinaryName = "caetrain-gpu"

// A binary that imports gorgonia.org/cu exits in cu's package init when no
// GPU answers, and needs libcuda to start at all, so a CPU build cannot
// fall back from inside a GPU build: instead it asks a GPU build, run as a
// child process, whether a device answers, and then hands the run to it.
type probeResult struct {
	ok  bool
	why string
}

// probes caches each GPU build's answer for the life of the process.
var probes struct {
	sync.Mutex
	byPath map[string]probeResult
}

func gpuBinary() string {
	if p := os.Getenv(GPUBinaryEnv); p != "" {
		return p
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), GPUBinaryName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(GPUBinaryName); err == nil {
		return p
	}
	return ""
}

const howToBuild = "build one with `go build -tags gpu -o caetrain-gpu ./cmd/caetrain` on a machine with the CUDA toolkit " +
	"(or use the Dockerfile's gpu target) and put it next to caetrain, in $PATH or in $" + GPUBinaryEnv

// cudaUsable reports whether a GPU build is at hand and finds a device.
func cudaUsable() (bool, string) {
	path := gpuBinary()
	if path == "" {
		return false, "this caetrain was built without CUDA support and no GPU build (" + GPUBinaryName + ") was found; " + howToBuild
	}
	probes.Lock()
	defer probes.Unlock()
	if r, ok := probes.byPath[path]; ok {
		return r.ok, r.why
	}
	r := probeGPUBuild(path)
	if probes.byPath == nil {
		probes.byPath = map[string]probeResult{}
	}
	probes.byPath[path] = r
	return r.ok, r.why
}

// probeGPUBuild runs `path probe`: a GPU build prints its device's name and
// exits 0, or exits non-zero (in gorgonia.org/cu's init) without a GPU.
func probeGPUBuild(path string) probeResult {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "probe")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			err = errors.New(msg)
		}
		return probeResult{why: fmt.Sprintf("the GPU build %s found no usable GPU: %v", path, err)}
	}
	return probeResult{ok: true, why: fmt.Sprintf("%s, through the GPU build %s", strings.TrimSpace(stdout.String()), path)}
}

// GPUHandoff returns the GPU build to hand a CUDA run to, when one is at
// hand and its device answers.
func GPUHandoff() (string, bool) {
	if ok, _ := cudaUsable(); !ok {
		return "", false
	}
	return gpuBinary(), true
}

// ProbeDevice fails: this build has no CUDA. (It does not ask a GPU build:
// probe is what a CPU build asks a GPU build.)
func ProbeDevice() (string, error) {
	return "", fmt.Errorf("%w: this caetrain was built without CUDA support", ErrNoCUDA)
}
