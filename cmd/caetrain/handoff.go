// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/caetrain/caetrain/engine"
)

// handoff replaces this process with the GPU build at path, running the
// same command (cmd: train or finetune). It returns only on failure. Tests
// replace it.
var handoff = func(path, cmd string, args []string) error {
	argv := append([]string{path, cmd}, args...)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("starting the GPU build %s: %w", path, err)
	}
	return nil
}

// probeMain answers a CPU build's question: does this build see a GPU? It
// prints the device's name, or fails (a gpu build without a GPU never gets
// here: gorgonia.org/cu exits in its package init).
func probeMain(stdout io.Writer) error {
	name, err := engine.ProbeDevice()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, name)
	return err
}
