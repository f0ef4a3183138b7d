// SPDX-License-Identifier: Apache-2.0

package layout

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/caetrain/caetrain"

// rank orders the layers; a package may import only packages of a lower
// rank (internal/ helpers are rank 0 and may be imported by anyone but
// kernels).
func rank(pkg string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	switch {
	case strings.HasPrefix(rel, "kernels"):
		return 1
	case strings.HasPrefix(rel, "graph"):
		return 2
	case strings.HasPrefix(rel, "engine"):
		return 3
	case strings.HasPrefix(rel, "bench"):
		return 4
	case strings.HasPrefix(rel, "cmd"):
		return 5
	case strings.HasPrefix(rel, "internal/cmd"):
		return 5
	}
	return 0
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestImportsFlowOneWay(t *testing.T) {
	for _, line := range goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...") {
		f := strings.Fields(line)
		pkg, r := f[0], rank(f[0])
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			ri := rank(imp)
			bad := ri > r // a layer may use its own subpackages and internal/ helpers
			if r == 1 && ri == 0 {
				bad = true // kernels is the leaf
			}
			if bad {
				t.Errorf("%s imports %s: imports must flow cmd → engine → graph → kernels", pkg, imp)
			}
		}
	}
}

func TestDefaultBuildLinksNoCUDA(t *testing.T) {
	for _, dep := range goList(t, "-deps", "./cmd/caetrain") {
		if strings.HasPrefix(dep, "gorgonia.org/cu") {
			t.Errorf("the default build of cmd/caetrain depends on %s; cu exits the process without a GPU", dep)
		}
	}
}

func TestEveryPackageHasDocGo(t *testing.T) {
	for _, dir := range goList(t, "-f", "{{.Dir}}", "./...") {
		if _, err := os.Stat(filepath.Join(dir, "doc.go")); err != nil {
			t.Errorf("%s has no doc.go", dir)
		}
	}
}
