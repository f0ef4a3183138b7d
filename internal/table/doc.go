// SPDX-License-Identifier: Apache-2.0

// Package table reads numeric CSV and TSV files as caetrain's data: one
// sample per row, one feature per column, with an optional label column.
//
// # Rows
//
// Fields are separated by the Comma rune (',' for CSV, '\t' for TSV) and
// may be quoted as RFC 4180 says; blank lines are skipped and spaces
// around a field are ignored. Every row must have as many fields as the
// first. Every field but the label must be a finite number in Go's
// strconv.ParseFloat syntax (1, -2.5, 3e-4; not NaN or Inf).
//
// # Header
//
// With Header "auto" the first row is a header when none of its fields
// (other than a label column given by index) is a number, and data when
// all are; a first row that mixes the two is an error that suggests
// --header yes. "yes" and "no" say which it is. A label column given by
// name needs a header.
//
// # Errors
//
// Every error names the file, the line and the column (1-based, in
// bytes from the start of the line, as compilers count) as FILE:LINE:COLUMN, then what is wrong; no
// input makes the package panic (see FuzzRead).
//
// # Memory
//
// Reader.Next returns the rows a chunk at a time, so a file larger than
// memory can be read in pieces.
package table
