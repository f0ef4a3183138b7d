// SPDX-License-Identifier: Apache-2.0

package table

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Options say how to read a table.
type Options struct {
	Comma    rune   // ',' or '\t'
	Header   string // "auto" (or ""), "yes" or "no"
	LabelCol string // the label column's name (needs a header) or 0-based index; "" for none
}

// Reader reads a table's rows.
type Reader struct {
	name  string
	cr    *csv.Reader
	label int // index of the label column, -1 for none
	// Names holds the header's field names (nil without a header).
	Names []string
	// Dim is the number of features per row (fields less the label).
	Dim int
	// the first data row, read by NewReader
	first      []string
	firstX     []float32
	firstLabel []string
	done       bool
	shapeFrom  string // what fixed the number of fields
}

// Error is a problem at a place in a file.
type Error struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// NewReader reads the first row (and the header, if any) of r; name is the
// file's, for errors.
func NewReader(r io.Reader, name string, o Options) (*Reader, error) {
	cr := csv.NewReader(r)
	if o.Comma != 0 {
		cr.Comma = o.Comma
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	cr.TrimLeadingSpace = true
	rd := &Reader{name: name, cr: cr, label: -1}
	rec, err := rd.record()
	if err == io.EOF {
		return nil, &Error{File: name, Line: 1, Column: 1, Msg: "the file holds no rows"}
	}
	if err != nil {
		return nil, err
	}
	line, _ := cr.FieldPos(0)
	labelIdx, byIndex := -1, false
	if o.LabelCol != "" {
		if i, err := strconv.Atoi(o.LabelCol); err == nil {
			if i < 0 || i >= len(rec) {
				return nil, &Error{File: name, Line: line, Column: 1, Msg: fmt.Sprintf("--label-col %d: the row has %d fields (columns are numbered from 0)", i, len(rec))}
			}
			labelIdx, byIndex = i, true
		}
	}
	header := false
	switch o.Header {
	case "yes":
		header = true
	case "no":
	case "", "auto":
		// A header when no field is a number; a row of data when all are.
		numbers, fields, bad := 0, 0, -1
		var badErr error
		for i, f := range rec {
			if byIndex && i == labelIdx {
				continue
			}
			fields++
			if _, err := parseNumber(f); err == nil {
				numbers++
			} else if bad < 0 {
				bad, badErr = i, err
			}
		}
		switch numbers {
		case 0:
			header = true
		case fields:
		default:
			_, c := cr.FieldPos(bad)
			return nil, &Error{File: name, Line: line, Column: c, Msg: fmt.Sprintf("column %d: %v (the first row mixes numbers and text: give --header yes if it is a header)", bad, badErr)}
		}
	default:
		return nil, fmt.Errorf("--header %q: want auto, yes or no", o.Header)
	}
	if o.LabelCol != "" && !byIndex {
		if !header {
			return nil, &Error{File: name, Line: line, Column: 1, Msg: fmt.Sprintf("--label-col %q names a column, but the file has no header row (give the column's 0-based index, or --header yes)", o.LabelCol)}
		}
		for i, f := range rec {
			if strings.TrimSpace(f) == o.LabelCol {
				labelIdx = i
				break
			}
		}
		if labelIdx < 0 {
			return nil, &Error{File: name, Line: line, Column: 1, Msg: fmt.Sprintf("--label-col %q: no such column in the header (%s)", o.LabelCol, strings.Join(trimAll(rec), ", "))}
		}
	}
	rd.label = labelIdx
	if header {
		rd.Names = trimAll(rec)
		rec, err = rd.record()
		if err == io.EOF {
			return nil, &Error{File: name, Line: line + 1, Column: 1, Msg: "the file holds a header but no data rows"}
		}
		if err != nil {
			return nil, err
		}
	}
	rd.Dim, rd.shapeFrom = len(rec), "the first row"
	if header {
		rd.Dim, rd.shapeFrom = len(rd.Names), "the header"
	}
	if labelIdx >= 0 {
		rd.Dim--
	}
	if rd.Dim == 0 {
		return nil, &Error{File: name, Line: line, Column: 1, Msg: "the rows hold no feature columns"}
	}
	if rd.firstX, rd.firstLabel, err = rd.parse(rec, nil, nil); err != nil {
		return nil, err
	}
	rd.first = rec
	return rd, nil
}

func trimAll(rec []string) []string {
	out := make([]string, len(rec))
	for i, f := range rec {
		out[i] = strings.TrimSpace(f)
	}
	return out
}

// record reads the next record, turning csv's errors into ours.
func (rd *Reader) record() ([]string, error) {
	rec, err := rd.cr.Read()
	if err == nil || err == io.EOF {
		return rec, err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, &Error{File: rd.name, Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
	}
	return nil, fmt.Errorf("%s: %w", rd.name, err)
}

// Next appends up to max rows (max ≤ 0: all) to x, Dim features each, and
// their labels (when there is a label column) to labels. It returns io.EOF
// with no rows once the file is read.
func (rd *Reader) Next(max int, x []float32, labels []string) ([]float32, []string, int, error) {
	n := 0
	if rd.first != nil && (max <= 0 || n < max) {
		x, labels = append(x, rd.firstX...), append(labels, rd.firstLabel...)
		rd.first, n = nil, 1
	}
	for !rd.done && (max <= 0 || n < max) {
		rec, err := rd.record()
		if err == io.EOF {
			rd.done = true
			break
		}
		if err != nil {
			return x, labels, n, err
		}
		if x, labels, err = rd.parse(rec, x, labels); err != nil {
			return x, labels, n, err
		}
		n++
	}
	if n == 0 {
		return x, labels, 0, io.EOF
	}
	return x, labels, n, nil
}

// parse appends the record just read to x and labels.
func (rd *Reader) parse(rec []string, x []float32, labels []string) ([]float32, []string, error) {
	want := rd.Dim
	if rd.label >= 0 {
		want++
	}
	if len(rec) != want {
		l, c := rd.cr.FieldPos(max(min(len(rec), want)-1, 0))
		if len(rec) > want {
			l, c = rd.cr.FieldPos(want)
		}
		return x, labels, &Error{File: rd.name, Line: l, Column: c, Msg: fmt.Sprintf("the row has %d fields, %s %d", len(rec), rd.shapeFrom, want)}
	}
	for i, f := range rec {
		if i == rd.label {
			labels = append(labels, strings.TrimSpace(f))
			continue
		}
		v, err := parseNumber(f)
		if err != nil {
			l, c := rd.cr.FieldPos(i)
			what := fmt.Sprintf("column %d", i)
			if rd.Names != nil {
				what = fmt.Sprintf("column %d (%q)", i, rd.Names[i])
			}
			return x, labels, &Error{File: rd.name, Line: l, Column: c, Msg: fmt.Sprintf("%s: %v", what, err)}
		}
		x = append(x, v)
	}
	return x, labels, nil
}

// parseNumber parses a feature.
func parseNumber(f string) (float32, error) {
	s := strings.TrimSpace(f)
	if s == "" {
		return 0, errors.New("empty field; every feature must be a number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%q is out of range", short(s))
		}
		return 0, fmt.Errorf("%q is not a number", short(s))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
		return 0, fmt.Errorf("%q is not a finite float32 number", short(s))
	}
	return float32(v), nil
}

func short(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return string(r[:40]) + "…"
	}
	return s
}
