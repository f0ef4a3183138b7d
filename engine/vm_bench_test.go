// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"testing"
)

// BenchmarkVMStep times one training step (forward, backward, Adam) of the
// presets on synthetic data, per CPU VM. bench/ has the full device
// comparison; this one is for profiling the VM.
func BenchmarkVMStep(b *testing.B) {
	for _, preset := range []string{"seed", "rifai"} {
		for _, batch := range []int{128, 1024} {
			for _, kind := range []string{FastVM, GorgoniaVM} {
				b.Run(fmt.Sprintf("%s/b%d/%s", preset, batch, kind), func(b *testing.B) {
					p, err := LookupPreset(preset)
					if err != nil {
						b.Fatal(err)
					}
					c := p.Config
					c.Batch, c.Machine = batch, kind
					tr, err := NewTrainer(c)
					if err != nil {
						b.Fatal(err)
					}
					defer tr.Close()
					data := synth(batch*2, 784, 1)
					idx := make([]int, batch)
					for i := range idx {
						idx[i] = i
					}
					for i := 0; i < 2; i++ {
						if _, err := tr.Step(data, idx); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := tr.Step(data, idx); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
				})
			}
		}
	}
}
