// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Scalings, as --scale and config.json name them.
const (
	ScaleAuto     = "auto"     // bytes: /255; floats: none if in [0,1], else minmax
	ScaleMinMax   = "minmax"   // per feature: (x − min) / (max − min), training split's min and max
	ScaleStandard = "standard" // per feature: (x − mean) / std, training split's mean and std
	ScaleNone     = "none"     // as stored
	ScaleBytes    = "u8/255"   // bytes divided by 255 (always, for uint8 data)
)

// Scaling is how the values were scaled: x' = (x − Offset[j]) · Mult[j] for
// feature j. The statistics come from the training split only; config.json
// records them so that eval and encode apply the same.
type Scaling struct {
	Kind   string    `json:"kind"`
	Offset []float32 `json:"offset,omitempty"`
	Mult   []float32 `json:"mult,omitempty"`
}

func newSplitRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x76616c73706c6974)) // "valsplit"
}

// scale checks the values are finite, then scales them as o says, and
// records the range of each split.
func (d *Dataset) scale(o Options) error {
	sc := o.Scaling
	kind := o.Scale
	if kind == "" {
		kind = ScaleAuto
	}
	if sc == nil {
		if d.u8 || d.Format == FormatIDX || d.Format == FormatCIFAR {
			if kind != ScaleAuto && kind != ScaleNone && kind != ScaleBytes {
				d.Notes = append(d.Notes, fmt.Sprintf("--scale %s is ignored: the data are bytes, divided by 255", kind))
			}
			sc = &Scaling{Kind: ScaleBytes}
		} else {
			if kind == ScaleAuto {
				lo, hi := d.Train.Range()
				if lo >= 0 && hi <= 1 {
					kind = ScaleNone
					d.Notes = append(d.Notes, "--scale auto: the values lie in [0,1]; kept as they are")
				} else {
					kind = ScaleMinMax
					d.Notes = append(d.Notes, fmt.Sprintf("--scale auto: the values range over [%g, %g]; scaling each feature to [0,1] with the training split's min and max (--scale minmax; --scale none or standard to choose otherwise)", lo, hi))
				}
			}
			var err error
			if sc, err = fit(&d.Train, kind); err != nil {
				return fmt.Errorf("%s: %w", d.Source, err)
			}
		}
	} else if len(sc.Offset) != 0 && len(sc.Offset) != d.Train.Dim {
		return fmt.Errorf("%s: the model's %s scaling has statistics for %d features, the data has %d", d.Source, sc.Kind, len(sc.Offset), d.Train.Dim)
	}
	d.Scaling = sc
	for i, s := range []*Split{&d.Train, &d.Test} {
		sc.apply(s.X, s.Dim)
		if sc.Kind != ScaleMinMax {
			continue
		}
		// Rounding may put a training value a hair outside [0,1]; values
		// of other data, further.
		if n := clip(s.X[:s.N*s.Dim]); n > 0 && (i == 1 || o.Scaling != nil) {
			which := "test"
			if i == 0 {
				which = "training"
			}
			d.Notes = append(d.Notes, fmt.Sprintf("--scale minmax: %d %s value(s) fell outside the training split's range and were clipped to [0,1]", n, which))
		}
	}
	return nil
}

// fit computes kind's statistics on s.
func fit(s *Split, kind string) (*Scaling, error) {
	sc := &Scaling{Kind: kind}
	switch kind {
	case ScaleNone:
		return sc, nil
	case ScaleMinMax, ScaleStandard:
	default:
		return nil, fmt.Errorf("--scale %q: want auto, minmax, standard or none", kind)
	}
	D := s.Dim
	a, b := make([]float64, D), make([]float64, D)
	if kind == ScaleMinMax {
		for j := range D {
			a[j], b[j] = math.Inf(1), math.Inf(-1)
		}
	}
	for i := range s.N {
		row := s.X[i*D : (i+1)*D]
		for j, v := range row {
			x := float64(v)
			if kind == ScaleMinMax {
				a[j], b[j] = min(a[j], x), max(b[j], x)
			} else {
				a[j] += x
				b[j] += x * x
			}
		}
	}
	sc.Offset, sc.Mult = make([]float32, D), make([]float32, D)
	for j := range D {
		var off, span float64
		if kind == ScaleMinMax {
			off, span = a[j], b[j]-a[j]
		} else {
			n := float64(max(s.N, 1))
			off = a[j] / n
			span = math.Sqrt(max(b[j]/n-off*off, 0))
		}
		sc.Offset[j] = float32(off)
		sc.Mult[j] = 1
		if span > 0 {
			sc.Mult[j] = float32(1 / span)
		}
	}
	return sc, nil
}

// apply scales x, rows of dim values, in place.
func (sc *Scaling) apply(x []float32, dim int) {
	if len(sc.Offset) == 0 || dim == 0 {
		return
	}
	for i := 0; i+dim <= len(x); i += dim {
		row := x[i : i+dim]
		for j := range row {
			row[j] = (row[j] - sc.Offset[j]) * sc.Mult[j]
		}
	}
}

// Apply scales x, rows of dim values, in place, as the data were.
func (sc *Scaling) Apply(x []float32, dim int) { sc.apply(x, dim) }

func clip(x []float32) int {
	n := 0
	for i, v := range x {
		if v < 0 {
			x[i], n = 0, n+1
		} else if v > 1 {
			x[i], n = 1, n+1
		}
	}
	return n
}

// Range returns the smallest and largest value of s (0, 0 when empty).
func (s *Split) Range() (lo, hi float32) {
	x := s.X[:s.N*s.Dim]
	if len(x) == 0 {
		return 0, 0
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// checkFinite refuses NaN and infinite values; what names the array.
func (s *Split) checkFinite(what string) error {
	for i, v := range s.X[:s.N*s.Dim] {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: sample %d, feature %d is %v; the data must be finite numbers", what, i/s.Dim, i%s.Dim, v)
		}
	}
	return nil
}
