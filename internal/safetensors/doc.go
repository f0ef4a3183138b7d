// SPDX-License-Identifier: Apache-2.0

// Package safetensors reads and writes the safetensors tensor file format
// (https://huggingface.co/docs/safetensors).
//
// A safetensors file is an 8-byte little-endian unsigned header length N,
// followed by N bytes of UTF-8 JSON header, followed by a byte buffer. The
// header maps each tensor name to an object
//
//	{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//
// whose offsets are relative to the start of the byte buffer, plus an
// optional "__metadata__" object of string keys and string values. Tensor
// data is little-endian and row-major, and the tensors must cover the buffer
// exactly, without overlaps, gaps or trailing bytes.
//
// Decode validates hostile input thoroughly: it never panics, never
// allocates more than the input size justifies, and reports errors that name
// the file and what is wrong with it. Encode writes tensors in name order
// with contiguous offsets and a header padded with spaces to a multiple of
// 8 bytes, so that equal inputs produce identical files.
package safetensors
