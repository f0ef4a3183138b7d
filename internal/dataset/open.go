// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// raw is what a format reader returns: the samples before splitting and
// scaling.
type raw struct {
	train, test Split // test.N == 0: the file has no test split
	hasTest     bool
	// u8 says the values were bytes, already divided by 255.
	u8 bool
	// labels as read (nil: none), before they are made class indices.
	trainLabels, testLabels []int64
	classNames              []string // for string labels (CSV), by value
	trainName, testName     string   // for errors: the file (and array)
	notes                   []string
	closers                 []func() error
}

// Open reads the data at path in the format o.Format (or the one its name
// shows), holds out a test split if it has none, and scales it (see
// Options). An empty path resolves as Load does and reads IDX files.
func Open(path string, o Options) (*Dataset, error) {
	if path == "" && (o.Format == "" || o.Format == FormatIDX) {
		d, err := Load("")
		if err != nil {
			return nil, err
		}
		d.Format = FormatIDX
		d.TestFrom = "file"
		return d, d.scale(o)
	}
	format := o.Format
	if format == "" {
		var err error
		if format, err = DetectFormat(path); err != nil {
			return nil, err
		}
	}
	var (
		r   *raw
		err error
	)
	switch format {
	case FormatIDX:
		d, err := LoadDir(path)
		if err != nil {
			return nil, err
		}
		d.Format, d.TestFrom = FormatIDX, "file"
		return d, d.scale(o)
	case FormatNPY, FormatNPZ:
		r, err = readNumPy(path, format, &o)
	case FormatCSV, FormatTSV:
		r, err = readCSV(path, format, &o)
	case FormatCIFAR:
		r, err = readCIFAR(path, &o)
	case FormatSafetensors:
		r, err = readSafetensors(path, &o)
	case FormatImages:
		r, err = readImages(path, &o)
	default:
		return nil, fmt.Errorf("--format %q: want one of %s", format, strings.Join(FormatNames, ", "))
	}
	if err != nil {
		closeAll(r)
		return nil, err
	}
	if !r.u8 {
		for _, c := range []struct {
			s    *Split
			what string
		}{{&r.train, r.trainName}, {&r.test, r.testName}} {
			if err := c.s.checkFinite(c.what); err != nil {
				closeAll(r)
				return nil, err
			}
		}
	}
	d := &Dataset{Source: path, Format: format, closers: r.closers, Notes: append(ignored(format, o), r.notes...)}
	d.Train, d.Test = r.train, r.test
	if err := d.labels(r); err != nil {
		d.Close()
		return nil, err
	}
	if r.hasTest {
		d.TestFrom = "file"
	} else if err := d.holdOut(o.ValSplit, o.Seed); err != nil {
		d.Close()
		return nil, err
	}
	d.u8 = r.u8
	if err := d.scale(o); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func closeAll(r *raw) {
	if r == nil {
		return
	}
	for _, c := range r.closers {
		c()
	}
}

// Close releases memory-mapped files; the splits must not be used after.
func (d *Dataset) Close() error {
	var err error
	for _, c := range d.closers {
		if e := c(); e != nil && err == nil {
			err = e
		}
	}
	d.closers = nil
	return err
}

// labels turns r's labels into class indices: kept as they are when all
// lie in 0..255, else the distinct values in order (or the CSV's class
// names) are numbered from 0.
func (d *Dataset) labels(r *raw) error {
	if r.trainLabels == nil {
		if r.testLabels != nil {
			d.Notes = append(d.Notes, "the test split's labels are ignored: the training split has none")
		}
		d.Train.Labels, d.Test.Labels = nil, nil
		return nil
	}
	if r.hasTest && r.testLabels == nil {
		d.Notes = append(d.Notes, "the training split's labels are ignored: the test split has none")
		d.Train.Labels, d.Test.Labels = nil, nil
		return nil
	}
	all := slices.Concat(r.trainLabels, r.testLabels)
	lo, hi := int64(0), int64(0)
	if len(all) > 0 {
		lo, hi = slices.Min(all), slices.Max(all)
	}
	index := func(v int64) uint8 { return uint8(v) }
	if r.classNames != nil || lo < 0 || hi > 255 {
		vals := slices.Compact(slices.Sorted(slices.Values(all)))
		if len(vals) > 256 {
			return fmt.Errorf("%s: the labels take %d distinct values; at most 256 classes are supported (or give no labels)", d.Source, len(vals))
		}
		pos := make(map[int64]uint8, len(vals))
		for i, v := range vals {
			pos[v] = uint8(i)
			name := strconv.FormatInt(v, 10)
			if r.classNames != nil {
				name = r.classNames[v]
			}
			d.Classes = append(d.Classes, name)
		}
		index = func(v int64) uint8 { return pos[v] }
		if r.classNames == nil {
			d.Notes = append(d.Notes, fmt.Sprintf("labels range over %d..%d: numbered 0..%d in increasing order", lo, hi, len(vals)-1))
		}
	}
	conv := func(v []int64) []uint8 {
		out := make([]uint8, len(v))
		for i, x := range v {
			out[i] = index(x)
		}
		return out
	}
	d.Train.Labels = conv(r.trainLabels)
	if r.testLabels != nil {
		d.Test.Labels = conv(r.testLabels)
	}
	return nil
}

// holdOutPlan returns the rows, in increasing order, that a hold-out of
// frac of n rows keeps for the test split: the last k positions of a
// partial Fisher-Yates shuffle (from position n-1 down to n-k) seeded by
// seed, replayed on a sparse permutation so that nothing of size n is
// made.
func holdOutPlan(source string, n int, frac float64, seed uint64) ([]int, error) {
	if !(frac > 0 && frac < 1) {
		return nil, fmt.Errorf("%s has no test split of its own, and --val-split %v is not between 0 and 1 (exclusive)", source, frac)
	}
	k := max(int(math.Round(frac*float64(n))), 1)
	if k >= n {
		return nil, fmt.Errorf("%s has %d samples: too few to hold out --val-split %v of them as a test split and train on the rest", source, n, frac)
	}
	rng := newSplitRNG(seed)
	perm := map[int]int{} // position → row, where not the identity
	at := func(p int) int {
		if r, ok := perm[p]; ok {
			return r
		}
		return p
	}
	rows := make([]int, 0, k)
	for pos := n - 1; pos >= n-k; pos-- {
		j := int(rng.Uint64N(uint64(pos + 1)))
		rj, rp := at(j), at(pos)
		perm[j], perm[pos] = rp, rj
		rows = append(rows, rj)
		delete(perm, pos) // never looked at again
	}
	slices.Sort(rows)
	return rows, nil
}

// holdOut moves a seeded random frac of the training rows (at least one)
// to the test split; each split keeps the rows in the file's order. The
// held-out rows are copied out and the others moved up in place, so the
// only new memory is the test split's, even for a memory-mapped array.
func (d *Dataset) holdOut(frac float64, seed uint64) error {
	tr := &d.Train
	rows, err := holdOutPlan(d.Source, tr.N, frac, seed)
	if err != nil {
		return err
	}
	k, D := len(rows), tr.Dim
	test := *tr
	test.X, test.N = make([]float32, 0, k*D), k
	if tr.Labels != nil {
		test.Labels = make([]uint8, 0, k)
	}
	for _, r := range rows {
		test.X = append(test.X, tr.X[r*D:(r+1)*D]...)
		if tr.Labels != nil {
			test.Labels = append(test.Labels, tr.Labels[r])
		}
	}
	t, next := 0, 0
	for r := range tr.N {
		if next < k && rows[next] == r {
			next++
			continue
		}
		if t != r {
			copy(tr.X[t*D:(t+1)*D], tr.X[r*D:(r+1)*D])
			if tr.Labels != nil {
				tr.Labels[t] = tr.Labels[r]
			}
		}
		t++
	}
	n := tr.N - k
	tr.X, tr.N = tr.X[:n*D], n
	if tr.Labels != nil {
		tr.Labels = tr.Labels[:n]
	}
	d.Test = test
	d.TestFrom = fmt.Sprintf("val-split %g seed %d", frac, seed)
	d.Notes = append(d.Notes, fmt.Sprintf("%s has no test split: holding out %d of its %d samples (--val-split %g, seed %d) as the test split", d.Source, k, n+k, frac, seed))
	return nil
}

// ignored names the options given that format does not use.
func ignored(format string, o Options) []string {
	var flags []string
	csv := format == FormatCSV || format == FormatTSV
	if !csv && o.LabelCol != "" {
		flags = append(flags, "--label-col")
	}
	if !csv && (o.Header == "yes" || o.Header == "no") {
		flags = append(flags, "--header")
	}
	if format != FormatNPZ && format != FormatSafetensors && (o.XKey != "" || o.YKey != "") {
		flags = append(flags, "--x-key/--y-key")
	}
	if format != FormatCIFAR && format != FormatImages && o.Gray {
		flags = append(flags, "--gray")
	}
	if format != FormatImages && (o.ImageSize != "" || o.SkipBad) {
		flags = append(flags, "--image-size/--skip-bad")
	}
	if len(flags) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: ignored for %s data", strings.Join(flags, ", "), format)}
}
