// SPDX-License-Identifier: Apache-2.0

package engine

// Encode returns the codes h(x) of the first n samples of s (all if n ≤ 0
// or n > s.N), row-major [n, code width], computed by the forward-only
// machine in float32: the same codes the model's graph produces.
func (t *Evaluator) Encode(s Samples, n int) ([]float32, error) {
	if n <= 0 || n > s.N {
		n = s.N
	}
	width := t.Spec.Arch[len(t.Spec.Arch)-1]
	out := make([]float32, 0, n*width)
	err := t.forEachBatch(s, n, func(idx []int) error {
		h := t.eval.value(t.eval.m.Code)
		out = append(out, h[:len(idx)*width]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
