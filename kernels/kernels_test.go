// SPDX-License-Identifier: Apache-2.0

package kernels_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caetrain/caetrain/kernels"
	"github.com/caetrain/caetrain/kernels/kerneltest"
)

// The Go references, float32, through the shared kernel suite: each
// agrees with its own float64 evaluation within kerneltest.Tol.

func TestBiasAct(t *testing.T)              { kerneltest.BiasActTest(t, cpu{}) }
func TestActBackward(t *testing.T)          { kerneltest.ActBackwardTest(t, cpu{}) }
func TestActDeriv(t *testing.T)             { kerneltest.ActDerivTest(t, cpu{}) }
func TestActDerivBackward(t *testing.T)     { kerneltest.ActDerivBackwardTest(t, cpu{}) }
func TestApply(t *testing.T)                { kerneltest.ApplyTest(t, cpu{}) }
func TestColSum(t *testing.T)               { kerneltest.ColSumTest(t, cpu{}) }
func TestReconLoss(t *testing.T)            { kerneltest.ReconLossTest(t, cpu{}) }
func TestSoftmaxXentSuite(t *testing.T)     { kerneltest.SoftmaxXentTest(t, cpu{}) }
func TestSoftmaxXentGradSuite(t *testing.T) { kerneltest.SoftmaxXentGradTest(t, cpu{}) }
func TestReconGrad(t *testing.T)            { kerneltest.ReconGradTest(t, cpu{}) }
func TestLossCombine(t *testing.T)          { kerneltest.LossCombineTest(t, cpu{}) }
func TestMaskWeights(t *testing.T)          { kerneltest.MaskWeightsTest(t, cpu{}) }
func TestColSumSq(t *testing.T)             { kerneltest.ColSumSqTest(t, cpu{}) }
func TestColSumSqGrad(t *testing.T)         { kerneltest.ColSumSqGradTest(t, cpu{}) }
func TestDiagPen(t *testing.T)              { kerneltest.DiagPenTest(t, cpu{}) }
func TestDiagPenGradD(t *testing.T)         { kerneltest.DiagPenGradDTest(t, cpu{}) }
func TestDiagPenGradC(t *testing.T)         { kerneltest.DiagPenGradCTest(t, cpu{}) }
func TestOuterScale(t *testing.T)           { kerneltest.OuterScaleTest(t, cpu{}) }
func TestOuterScaleGradDL(t *testing.T)     { kerneltest.OuterScaleGradDLTest(t, cpu{}) }
func TestOuterScaleGradW(t *testing.T)      { kerneltest.OuterScaleGradWTest(t, cpu{}) }
func TestOuterScaleGradDP(t *testing.T)     { kerneltest.OuterScaleGradDPTest(t, cpu{}) }
func TestScaleCols(t *testing.T)            { kerneltest.ScaleColsTest(t, cpu{}) }
func TestRowDot(t *testing.T)               { kerneltest.RowDotTest(t, cpu{}) }
func TestQuadFormBLAS(t *testing.T)         { kerneltest.QuadFormBLASTest(t, cpu{}) }
func TestQuadFormGradTBLAS(t *testing.T)    { kerneltest.QuadFormGradTBLASTest(t, cpu{}) }
func TestQuadFormGradGBLAS(t *testing.T)    { kerneltest.QuadFormGradGBLASTest(t, cpu{}) }
func TestAdd(t *testing.T)                  { kerneltest.AddTest(t, cpu{}) }
func TestSub(t *testing.T)                  { kerneltest.SubTest(t, cpu{}) }
func TestScale(t *testing.T)                { kerneltest.ScaleTest(t, cpu{}) }
func TestMatMul(t *testing.T)               { kerneltest.MatMulTest(t, cpu{}) }
func TestAdamStep(t *testing.T)             { kerneltest.AdamStepTest(t, cpu{}) }
func TestGatherRows(t *testing.T)           { kerneltest.GatherRowsTest(t, cpu{}) }
func TestHasNonFinite(t *testing.T)         { kerneltest.HasNonFiniteTest(t, cpu{}) }
func TestInPlace(t *testing.T)              { kerneltest.InPlaceTest(t, cpu{}) }

// TestPTXModules checks gen_ptx.go against the sources, without nvcc: one
// module per kernels/cuda/*.cu, made from these very sources (SHA256), for
// the compute_75 target, whose .entry lines are exactly its Kernels list
// and the source's extern "C" kernels, each named cae_<op>_f32 and defined
// once. A .cu edited without go generate ./kernels fails here.
func TestPTXModules(t *testing.T) {
	cus, err := filepath.Glob("cuda/*.cu")
	if err != nil {
		t.Fatal(err)
	}
	headers, err := filepath.Glob("cuda/*.cuh")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(cus)
	slices.Sort(headers)
	var names []string
	for _, m := range kernels.PTXModules {
		names = append(names, "cuda/"+m.Name+".cu")
	}
	if !slices.Equal(names, cus) {
		t.Fatalf("PTXModules are made from %v, but the sources are %v: run go generate ./kernels", names, cus)
	}
	entry := regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)
	global := regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(`)
	name := regexp.MustCompile(`^cae_[a-z0-9]+(_[a-z0-9]+)*_f32$`)
	seen := map[string]string{}
	for _, m := range kernels.PTXModules {
		src, err := os.ReadFile("cuda/" + m.Name + ".cu")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		h.Write(src)
		for _, p := range headers {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "\x00%s\x00", filepath.Base(p))
			h.Write(b)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
			t.Errorf("module %s: sources have SHA-256 %s, the PTX was made from %s: run go generate ./kernels", m.Name, got, m.SHA256)
		}
		if !strings.Contains(m.PTX, "\n.target sm_75\n") {
			t.Errorf("module %s: PTX is not for .target sm_75", m.Name)
		}
		var entries, declared []string
		for _, e := range entry.FindAllStringSubmatch(m.PTX, -1) {
			entries = append(entries, e[1])
		}
		for _, e := range global.FindAllSubmatch(src, -1) {
			declared = append(declared, string(e[1]))
		}
		slices.Sort(entries)
		slices.Sort(declared)
		if !slices.IsSorted(m.Kernels) || !slices.Equal(entries, m.Kernels) || !slices.Equal(declared, m.Kernels) {
			t.Errorf("module %s: Kernels %v, PTX entries %v, extern \"C\" kernels %v", m.Name, m.Kernels, entries, declared)
		}
		for _, k := range m.Kernels {
			if !name.MatchString(k) {
				t.Errorf("module %s: kernel %s is not named cae_<op>_f32", m.Name, k)
			}
			if o, ok := seen[k]; ok {
				t.Errorf("kernel %s is in modules %s and %s", k, o, m.Name)
			}
			seen[k] = m.Name
		}
	}
}

// TestDeviceLaunchesEveryKernel checks, from the sources of the gpu
// build (which the default build cannot compile), that every kernel name
// the Device launches is in PTXModules and that every kernel in
// PTXModules is launched by the Device. OpenDevice checks the first again
// against the loaded modules.
func TestDeviceLaunchesEveryKernel(t *testing.T) {
	files, err := filepath.Glob("cuda_gpu*.go")
	if err != nil {
		t.Fatal(err)
	}
	lit := regexp.MustCompile(`"(cae_\w+_f32)"`)
	used := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			used[string(m[1])] = true
		}
	}
	if len(used) == 0 {
		t.Fatal("no kernel names found in cuda_gpu*.go")
	}
	have := map[string]bool{}
	for _, m := range kernels.PTXModules {
		for _, k := range m.Kernels {
			have[k] = true
			if !used[k] {
				t.Errorf("kernel %s (module %s) is never launched by the Device", k, m.Name)
			}
		}
	}
	for k := range used {
		if !have[k] {
			t.Errorf("the Device launches %s, which no PTX module defines", k)
		}
	}
}

// cpu is kerneltest.Impl over the float32 Go references.
type cpu struct{}

func (cpu) BiasAct(out, xw, b []float32, rows, n int, act kernels.Act) error {
	kernels.BiasAct(out, xw, b, rows, n, act)
	return nil
}

func (cpu) ActBackward(out, a, g []float32, act kernels.Act) error {
	kernels.ActBackward(out, a, g, act)
	return nil
}

func (cpu) ActDeriv(out, a []float32, act kernels.Act) error {
	kernels.ActDeriv(out, a, act)
	return nil
}

func (cpu) ActDerivBackward(out, a, g []float32, act kernels.Act) error {
	kernels.ActDerivBackward(out, a, g, act)
	return nil
}

func (cpu) Apply(out, z []float32, act kernels.Act) error {
	kernels.Apply(out, z, act)
	return nil
}

func (cpu) ColSum(out, x []float32, rows, n int) error {
	kernels.ColSum(out, x, rows, n)
	return nil
}

func (cpu) SoftmaxXent(out, z, y []float32, rows, n int) error {
	kernels.SoftmaxXent(out, z, y, rows, n)
	return nil
}

func (cpu) SoftmaxXentGrad(out, z, y, g []float32, rows, n int) error {
	kernels.SoftmaxXentGrad(out, z, y, g, rows, n)
	return nil
}

func (cpu) ReconLoss(out, z, x []float32, rows, n int, outAct kernels.Act, bce bool) error {
	kernels.ReconLoss(out, z, x, rows, n, outAct, bce)
	return nil
}

func (cpu) ReconGrad(out, z, x, g []float32, rows, n int, outAct kernels.Act, bce bool) error {
	kernels.ReconGrad(out, z, x, g, rows, n, outAct, bce)
	return nil
}

func (cpu) LossCombine(out []float32, terms [][]float32, w []float64, mask, invn []float32) error {
	kernels.LossCombine(out, terms, w, mask, invn)
	return nil
}

func (cpu) MaskWeights(out, mask, invn, g []float32, w float64) error {
	kernels.MaskWeights(out, mask, invn, g, w)
	return nil
}

func (cpu) ColSumSq(out, w []float32, n0, n1 int) error {
	kernels.ColSumSq(out, w, n0, n1)
	return nil
}

func (cpu) ColSumSqGrad(out, w, g []float32, n0, n1 int) error {
	kernels.ColSumSqGrad(out, w, g, n0, n1)
	return nil
}

func (cpu) DiagPen(out, d, c []float32, B, n int) error {
	kernels.DiagPen(out, d, c, B, n)
	return nil
}

func (cpu) DiagPenGradD(out, d, c, g []float32, B, n int) error {
	kernels.DiagPenGradD(out, d, c, g, B, n)
	return nil
}

func (cpu) DiagPenGradC(out, d, g []float32, B, n int) error {
	kernels.DiagPenGradC(out, d, g, B, n)
	return nil
}

func (cpu) OuterScale(t, dL, w, dP []float32, B, nL, P int) error {
	kernels.OuterScale(t, dL, w, dP, B, nL, P)
	return nil
}

func (cpu) OuterScaleGradDL(out, g, w, dP []float32, B, nL, P int) error {
	kernels.OuterScaleGradDL(out, g, w, dP, B, nL, P)
	return nil
}

func (cpu) OuterScaleGradW(out, g, dL, dP []float32, B, nL, P int) error {
	kernels.OuterScaleGradW(out, g, dL, dP, B, nL, P)
	return nil
}

func (cpu) OuterScaleGradDP(out, g, dL, w []float32, B, nL, P int) error {
	kernels.OuterScaleGradDP(out, g, dL, w, B, nL, P)
	return nil
}

func (cpu) ScaleCols(out, p, d []float32, B, R, C int) error {
	kernels.ScaleCols(out, p, d, B, R, C)
	return nil
}

func (cpu) RowDot(out, g, p []float32, B, R, C int) error {
	kernels.RowDot(out, g, p, B, R, C)
	return nil
}

func (cpu) QuadFormBLAS(out, t, g, u []float32, B, R, C int) error {
	kernels.QuadFormBLAS(out, t, g, u, B, R, C)
	return nil
}

func (cpu) QuadFormGradTBLAS(dt, t, g, gout, s []float32, B, R, C int) error {
	kernels.QuadFormGradTBLAS(dt, t, g, gout, s, B, R, C)
	return nil
}

func (cpu) QuadFormGradGBLAS(dg, t, gout, u []float32, B, R, C int) error {
	kernels.QuadFormGradGBLAS(dg, t, gout, u, B, R, C)
	return nil
}

func (cpu) Add(out, a, b []float32) error {
	kernels.Add(out, a, b)
	return nil
}

func (cpu) Sub(out, a, b []float32) error {
	kernels.Sub(out, a, b)
	return nil
}

func (cpu) Scale(out, a []float32, s float32) error {
	kernels.Scale(out, a, s)
	return nil
}

func (cpu) MatMul(c, a, b []float32, m, n, k int, ta, tb bool) error {
	kernels.MatMul(c, a, b, m, n, k, ta, tb)
	return nil
}

func (cpu) AdamStep(p, g, m, v []float32, t int, h kernels.AdamHyper) error {
	kernels.AdamStep(p, g, m, v, t, h)
	return nil
}

func (cpu) GatherRows(x, mask, invn, data []float32, idx []int32, batch, dim int) error {
	kerneltest.GatherRows(x, mask, invn, data, idx, batch, dim)
	return nil
}

func (cpu) HasNonFinite(x []float32) (bool, error) { return kerneltest.HasNonFinite(x), nil }

// TestAllFinite checks both instantiations on a NaN, ±Inf and finite
// extremes, in the vector body and the tail.
func TestAllFinite(t *testing.T) {
	for n := 1; n <= 19; n++ {
		x32, x64 := make([]float32, n), make([]float64, n)
		x32[0], x64[0] = math.MaxFloat32, math.MaxFloat64
		if !kernels.AllFinite(x32) || !kernels.AllFinite(x64) {
			t.Fatalf("n=%d: finite values reported non-finite", n)
		}
		for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			x32[n-1], x64[n-1] = float32(bad), bad
			if kernels.AllFinite(x32) || kernels.AllFinite(x64) {
				t.Fatalf("n=%d: %v not found", n, bad)
			}
			x32[n-1], x64[n-1] = 0, 0
		}
	}
}
