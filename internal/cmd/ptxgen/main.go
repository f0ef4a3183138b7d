// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

const module = "github.com/caetrain/caetrain"

// nvccFlags are the flags of every compilation: PTX for a fixed, old
// target that drivers JIT for newer GPUs, with IEEE-strict float32.
var nvccFlags = []string{"-ptx", "-arch=compute_75", "-fmad=false", "-ftz=false", "-prec-div=true", "-prec-sqrt=true"}

// target is the .target line nvccFlags give.
const target = "sm_75"

var (
	entryRE  = regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)
	targetRE = regexp.MustCompile(`(?m)^\.target (\S+)`)
	globalRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(`)
	nameRE   = regexp.MustCompile(`^cae_[a-z0-9]+(_[a-z0-9]+)*_f32$`)
	fileRE   = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ptxgen (no arguments; run by go generate ./kernels)")
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ptxgen:", err)
		os.Exit(1)
	}
}

// ptxModule is one compiled .cu file.
type ptxModule struct {
	Name    string   // base name, e.g. "act"
	Var     string   // the Go variable holding its PTX, e.g. "ptxAct"
	Kernels []string // sorted
	SHA256  string   // of the sources (kernels.PTXModule.SHA256)
}

func run() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	src := filepath.Join(root, "kernels", "cuda")
	nvcc, err := findNVCC()
	if err != nil {
		return err
	}
	version, err := nvccVersion(nvcc)
	if err != nil {
		return err
	}
	cus, err := filepath.Glob(filepath.Join(src, "*.cu"))
	if err != nil {
		return err
	}
	if len(cus) == 0 {
		return fmt.Errorf("no .cu files in %s", src)
	}
	slices.Sort(cus)
	headers, err := filepath.Glob(filepath.Join(src, "*.cuh"))
	if err != nil {
		return err
	}
	slices.Sort(headers)
	tmp, err := os.MkdirTemp("", "ptxgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var mods []ptxModule
	seen := map[string]string{} // kernel → module
	for _, cu := range cus {
		name := strings.TrimSuffix(filepath.Base(cu), ".cu")
		if !fileRE.MatchString(name) {
			return fmt.Errorf("%s: file names must be lower-case letters and digits", cu)
		}
		ptx, err := compile(nvcc, src, name, tmp)
		if err != nil {
			return err
		}
		kernels, err := check(cu, ptx)
		if err != nil {
			return err
		}
		for _, k := range kernels {
			if m, ok := seen[k]; ok {
				return fmt.Errorf("kernel %s is defined in both %s.cu and %s.cu", k, m, name)
			}
			seen[k] = name
		}
		if err := writeIfChanged(filepath.Join(src, name+".ptx"), ptx); err != nil {
			return err
		}
		sum, err := sourceHash(cu, headers)
		if err != nil {
			return err
		}
		mods = append(mods, ptxModule{Name: name, Var: "ptx" + strings.ToUpper(name[:1]) + name[1:], Kernels: kernels, SHA256: sum})
	}
	// Remove PTX whose source is gone.
	ptxs, err := filepath.Glob(filepath.Join(src, "*.ptx"))
	if err != nil {
		return err
	}
	for _, p := range ptxs {
		if _, err := os.Stat(strings.TrimSuffix(p, ".ptx") + ".cu"); errors.Is(err, os.ErrNotExist) {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	gen, err := generate(mods, version)
	if err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(root, "kernels", "gen_ptx.go"), gen)
}

// sourceHash is the hex SHA-256 of the .cu file's bytes followed, for
// each header in sorted order, by a NUL, its base name, a NUL and its
// bytes (kernels.PTXModule.SHA256).
func sourceHash(cu string, headers []string) (string, error) {
	h := sha256.New()
	b, err := os.ReadFile(cu)
	if err != nil {
		return "", err
	}
	h.Write(b)
	for _, p := range headers {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "\x00%s\x00", filepath.Base(p))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// repoRoot is the directory of the nearest go.mod above the working
// directory, which must be caetrain's.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if strings.TrimSpace(first) != "module "+module {
				return "", fmt.Errorf("%s/go.mod is not module %s; run ptxgen inside caetrain", dir, module)
			}
			return dir, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("no go.mod above the working directory; run ptxgen inside caetrain")
		}
		dir = up
	}
}

// findNVCC returns $NVCC, the nvcc on $PATH, or /usr/local/cuda/bin/nvcc.
func findNVCC() (string, error) {
	if p := os.Getenv("NVCC"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("nvcc"); err == nil {
		return p, nil
	}
	const def = "/usr/local/cuda/bin/nvcc"
	if _, err := os.Stat(def); err == nil {
		return def, nil
	}
	return "", errors.New("nvcc not found: install Debian's nvidia-cuda-toolkit (non-free) or set $NVCC")
}

// nvccVersion is nvcc's "Cuda compilation tools, release …" line.
func nvccVersion(nvcc string) (string, error) {
	out, err := exec.Command(nvcc, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", nvcc, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Cuda compilation tools") {
			return strings.TrimSpace(l), nil
		}
	}
	return "", fmt.Errorf("%s --version: no version line in %q", nvcc, out)
}

// compile runs nvcc on src/name.cu, in src so that includes resolve and no
// absolute path reaches the output, and returns the PTX.
func compile(nvcc, src, name, tmp string) ([]byte, error) {
	out := filepath.Join(tmp, name+".ptx")
	args := append(slices.Clone(nvccFlags), "-o", out, name+".cu")
	cmd := exec.Command(nvcc, args...)
	cmd.Dir = src
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("nvcc %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		os.Stderr.Write(stderr.Bytes()) // warnings
	}
	return os.ReadFile(out)
}

// check returns the sorted kernel names of a module's PTX after checking
// its target, the names, and that they match the .cu file's extern "C"
// kernels (a kernel without extern "C" gets a mangled name).
func check(cu string, ptx []byte) ([]string, error) {
	if m := targetRE.FindSubmatch(ptx); m == nil || string(m[1]) != target {
		return nil, fmt.Errorf("%s: PTX target is not %s", cu, target)
	}
	var kernels []string
	for _, m := range entryRE.FindAllSubmatch(ptx, -1) {
		kernels = append(kernels, string(m[1]))
	}
	slices.Sort(kernels)
	source, err := os.ReadFile(cu)
	if err != nil {
		return nil, err
	}
	var declared []string
	for _, m := range globalRE.FindAllSubmatch(source, -1) {
		declared = append(declared, string(m[1]))
	}
	slices.Sort(declared)
	if len(kernels) == 0 {
		return nil, fmt.Errorf("%s: defines no kernel", cu)
	}
	if !slices.Equal(kernels, declared) {
		return nil, fmt.Errorf("%s: PTX entries %v differ from its extern \"C\" __global__ functions %v", cu, kernels, declared)
	}
	for _, k := range kernels {
		if !nameRE.MatchString(k) {
			return nil, fmt.Errorf("%s: kernel %s is not named cae_<op>_f32", cu, k)
		}
	}
	return kernels, nil
}

// writeIfChanged writes b to path unless it already holds b.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return os.WriteFile(path, b, 0o644)
}

var genTmpl = template.Must(template.New("gen").Parse(`// Code generated by ptxgen. DO NOT EDIT.

// SPDX-License-Identifier: Apache-2.0

package kernels

import _ "embed"

// PTXModules are the CUDA kernels' PTX modules, one per kernels/cuda/*.cu
// file, in sorted order, each with the sorted names of its kernels. They
// were made by internal/cmd/ptxgen ({{.Version}}) with
//
//	nvcc {{.Flags}}
var PTXModules = []PTXModule{
{{- range .Mods}}
	{Name: {{printf "%q" .Name}}, PTX: {{.Var}}, SHA256: {{printf "%q" .SHA256}}, Kernels: []string{
	{{- range .Kernels}}
		{{printf "%q" .}},
	{{- end}}
	}},
{{- end}}
}
{{range .Mods}}
//go:embed cuda/{{.Name}}.ptx
var {{.Var}} string
{{end}}`))

// generate returns kernels/gen_ptx.go's text.
func generate(mods []ptxModule, version string) ([]byte, error) {
	var b bytes.Buffer
	err := genTmpl.Execute(&b, struct {
		Mods    []ptxModule
		Version string
		Flags   string
	}{mods, version, strings.Join(nvccFlags, " ")})
	if err != nil {
		return nil, err
	}
	return format.Source(b.Bytes())
}
