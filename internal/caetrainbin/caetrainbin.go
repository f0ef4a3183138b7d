// SPDX-License-Identifier: Apache-2.0

package caetrainbin

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
)

// Path returns given if it is not empty, else builds ./cmd/caetrain into
// outDir/bin/caetrain (the command who must run from the repository root)
// and returns that path. The go command's output goes to stderr.
func Path(given, outDir, who string, stderr io.Writer) (string, error) {
	if given != "" {
		return given, nil
	}
	bin, err := filepath.Abs(filepath.Join(outDir, "bin", "caetrain"))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "%s: go build -o %s ./cmd/caetrain\n", who, bin)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caetrain")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building caetrain (run %s from the repository root, or pass --caetrain): %w", who, err)
	}
	return bin, nil
}
