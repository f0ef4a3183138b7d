// SPDX-License-Identifier: Apache-2.0

// Package idx reads IDX files, the format of MNIST and Fashion-MNIST:
// unsigned-byte image files (magic 0x00000803, three dimensions) and
// unsigned-byte label files (magic 0x00000801, one dimension).
//
// Input may be raw or gzip-compressed; compression is detected from the
// gzip magic bytes (0x1f 0x8b), not from the file name. Every header field
// is validated, the data length must match the header exactly, and label
// values must be class numbers 0..9. Errors name the file and say what is
// wrong. Decoding never panics, and the memory it allocates is bounded by
// the data actually present, not by the counts a header claims.
package idx
