package gemm

import (
	"fmt"
	"sync"
	"testing"
)

func BenchmarkTmpPar(bm *testing.B) {
	for _, s := range [][5]int{{784, 1000, 128, 1, 0}, {64, 1000, 784, 0, 0}, {64, 784, 1000, 0, 0}} {
		m, n, k, ta := s[0], s[1], s[2], s[3] == 1
		lda := k
		if ta {
			lda = m
		}
		for _, par := range []int{1, 2, 3} {
			shared := par == 3
			if shared {
				par = 2
			}
			var as, bs, cs [][]float32
			for i := 0; i < par; i++ {
				as = append(as, make([]float32, m*k))
				if shared && i > 0 {
					bs = append(bs, bs[0])
				} else {
					bs = append(bs, make([]float32, k*n))
				}
				cs = append(cs, make([]float32, m*n))
			}
			bm.Run(fmt.Sprintf("%dx%dx%d_par%d_sharedB%v", m, n, k, par, shared), func(bm *testing.B) {
				for bm.Loop() {
					var wg sync.WaitGroup
					for i := 1; i < par; i++ {
						wg.Add(1)
						go func() { Sgemm(ta, false, m, n, k, as[i], lda, bs[i], n, ta, cs[i], n); wg.Done() }()
					}
					Sgemm(ta, false, m, n, k, as[0], lda, bs[0], n, ta, cs[0], n)
					wg.Wait()
				}
				bm.ReportMetric(float64(par)*2*float64(m*n*k)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkTmpPack(bm *testing.B) {
	b := make([]float32, 784*1000)
	var p PackedB
	p.Prepare(784, 1000)
	bm.Run("tb", func(bm *testing.B) {
		for bm.Loop() {
			p.Pack(true, 784, 1000, b, 784)
		}
		bm.ReportMetric(float64(784*1000*8)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GB/s")
	})
	bm.Run("n", func(bm *testing.B) {
		for bm.Loop() {
			p.Pack(false, 784, 1000, b, 1000)
		}
		bm.ReportMetric(float64(784*1000*8)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GB/s")
	})
	bm.Run("copy", func(bm *testing.B) {
		d := make([]float32, 784*1000)
		for bm.Loop() {
			copy(d, b)
		}
		bm.ReportMetric(float64(784*1000*8)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GB/s")
	})
}
