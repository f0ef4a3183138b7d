// SPDX-License-Identifier: Apache-2.0

package dataset

import (
	"bytes"
	"fmt"
	"io"
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
	comma := ','
	if format == FormatTSV {
		comma = '\t'
	}
	capacity := 0
	if st, err := f.Stat(); err == nil {
		// Estimate the values from the fields per byte of the first MiB.
		head := make([]byte, 1<<20)
		n, _ := io.ReadFull(f, head)
		fields := bytes.Count(head[:n], []byte(string(comma))) + bytes.Count(head[:n], []byte("\n"))
		if n > 0 && fields > 0 {
			values := int64(float64(st.Size()) * float64(fields) / float64(n))
			if err := o.checkFits(path, values*4, fmt.Sprintf("a %.2f GB text file (about %d values, estimated from its first %d bytes)", gb(st.Size()), values, n)); err != nil {
				return nil, err
			}
			capacity = int(min(values+values/16, 1<<40))
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	rd, err := table.NewReader(f, path, table.Options{Comma: comma, Header: o.Header, LabelCol: o.LabelCol})
	if err != nil {
		return nil, err
	}
	x, labels, n, err := rd.Next(0, make([]float32, 0, capacity), nil)
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
