// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/caetrain/caetrain/internal/table"
)

// readCSV reads a CSV or TSV file: all rows are training rows (the test
// split is held out), with labels from --label-col.
func readCSV(path, format string, o *Options) (*raw, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		// A number takes at least two bytes of text ("1,"), so the file
		// holds at most size/2 values.
		if err := o.checkFits(path, st.Size()/2*4, fmt.Sprintf("a %.2f GB text file (at most %d values)", gb(st.Size()), st.Size()/2)); err != nil {
			return nil, err
		}
	}
	comma := ','
	if format == FormatTSV {
		comma = '\t'
	}
	rd, err := table.NewReader(f, path, table.Options{Comma: comma, Header: o.Header, LabelCol: o.LabelCol})
	if err != nil {
		return nil, err
	}
	x, labels, n, err := rd.Next(0, nil, nil)
	if err != nil {
		return nil, err
	}
	r := &raw{train: Split{X: x, N: n, Dim: rd.Dim}, trainName: path}
	if labels != nil {
		r.trainLabels, r.classNames = labelValues(labels)
	}
	return r, nil
}

// labelValues returns integer labels as they are, or numbers the distinct
// strings in sorted order and returns their names.
func labelValues(labels []string) ([]int64, []string) {
	out := make([]int64, len(labels))
	ints := true
	for i, s := range labels {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			ints = false
			break
		}
		out[i] = v
	}
	if ints {
		return out, nil
	}
	names := slices.Compact(slices.Sorted(slices.Values(labels)))
	pos := make(map[string]int64, len(names))
	for i, s := range names {
		pos[s] = int64(i)
	}
	for i, s := range labels {
		out[i] = pos[s]
	}
	return out, names
}
