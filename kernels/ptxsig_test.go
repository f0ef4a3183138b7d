// SPDX-License-Identifier: Apache-2.0

package kernels

import "testing"

// TestPTXSignatures: every committed module parses, and the signatures read
// are the kernels' C declarations (two written out from kernels/cuda/*.cu).
func TestPTXSignatures(t *testing.T) {
	all := map[string]string{}
	for _, m := range PTXModules {
		sigs, err := ptxSignatures(m.PTX)
		if err != nil {
			t.Fatalf("%s.ptx: %v", m.Name, err)
		}
		if len(sigs) != len(m.Kernels) {
			t.Errorf("%s.ptx: %d entries parsed, the module lists %d kernels", m.Name, len(sigs), len(m.Kernels))
		}
		for k, s := range sigs {
			all[k] = s
		}
	}
	for _, c := range []struct{ kernel, want string }{
		// act.cu: (float *out, const float *xw, const float *b, int rows, int n, int act)
		{"cae_bias_act_f32", "qqqiii"},
		// adam.cu: (float *p, float *g, float *m, float *v, int n, float b1, float b2, float c1, float c2, float lr, float eps, const int *skip)
		{"cae_adam_f32", "qqqqiffffffq"},
	} {
		if got := all[c.kernel]; got != c.want {
			t.Errorf("%s: signature %q, want %q", c.kernel, got, c.want)
		}
	}
	if _, err := ptxSignatures(".entry k(\n.param .align 8 .b8 k_param_0[16]\n)"); err == nil {
		t.Error("a by-value struct parameter: no error")
	}
}
