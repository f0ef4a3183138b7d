// SPDX-License-Identifier: Apache-2.0

// Package ckpt reads and writes caetrain's checkpoint container: a JSON
// header describing the run and a list of typed numeric sections, followed by
// the sections' little-endian payloads and a CRC-32C checksum of everything
// before it.
//
// The layout, all integers little-endian:
//
//	offset  size  contents
//	0       8     magic "CAECKPT\x00"
//	8       4     format version (1)
//	12      4     header length H, at most MaxHeaderSize
//	16      H     header: a UTF-8 JSON object {"meta": {...}, "sections": [...]}
//	16+H    ...   the sections' payloads, in header order, without padding
//	end−4   4     CRC-32C (Castagnoli) of bytes [0, end−4)
//
// Each section is declared as {"name": "...", "dtype": "f32"|"u32", "len":
// n}: n values of 4 bytes each. Names are unique and non-empty. The meta
// object belongs to the caller (the engine stores the configuration, step,
// epoch and random generator state there).
//
// Decode checks the checksum before anything else, so a truncated or
// bit-flipped file is reported as such. It then checks that the declared
// sections fill the payload exactly before allocating for them, so a header
// claiming huge sections costs nothing: Decode never panics, and never
// allocates much more than the size of its input.
package ckpt
