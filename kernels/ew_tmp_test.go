package kernels

import "testing"

func BenchmarkTmpEW(b *testing.B) {
	x := make([]float32, 64*1000)
	o := make([]float32, 64*1000)
	bias := make([]float32, 1000)
	c := make([]float32, 1000)
	b.Run("biasact", func(b *testing.B) {
		for b.Loop() {
			BiasAct(o, x, bias, 64, 1000, Sigmoid)
		}
	})
	b.Run("colsum", func(b *testing.B) {
		for b.Loop() {
			ColSum(c, x, 64, 1000)
		}
	})
}
