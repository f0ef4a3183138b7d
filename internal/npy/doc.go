// SPDX-License-Identifier: Apache-2.0

// Package npy reads NumPy's .npy arrays and .npz archives of them as
// caetrain's data.
//
// # Format
//
// An .npy file is the magic "\x93NUMPY", a major and minor version byte,
// the header length (little-endian uint16 in version 1, uint32 in versions
// 2 and 3), then a Python dict literal with the keys 'descr' (the dtype,
// e.g. '<f4'), 'fortran_order' and 'shape', padded with spaces and ending
// in a newline, then the elements in C order. An .npz file is a zip archive
// of .npy files, one per array, named KEY.npy (np.savez and
// np.savez_compressed write them).
//
// # What is read
//
// Data arrays may be uint8 ('|u1'), float32 ('<f4', '>f4') or float64
// ('<f8', '>f8'), of any shape with a first axis (the samples); label
// arrays may hold any integer dtype (i1..i8, u1..u8) or bool. Fortran-order
// arrays are refused with the advice to save np.ascontiguousarray(x).
//
// # Memory
//
// A little-endian float32 array in an .npy file, or stored uncompressed in
// an .npz archive at an offset that is a multiple of 4, is memory-mapped
// (private, copy-on-write) rather than read: the operating system pages it
// in as training touches it and may drop it again, so a file close to the
// size of memory can be trained on. Every other dtype must be converted to
// float32 and is read into memory, in chunks, so that no second copy of
// the file is ever held.
//
// The header parser is ours rather than github.com/sbinet/npyio's (v0.6.0,
// the only version on the module proxy): that one panics on a header
// without its newline and on keys in another order than NumPy's, and reads
// only through reflection into fresh slices, so it cannot map a file.
//
// Every error names the file (and the array, in an archive) and what is
// wrong; no input makes the package panic (see FuzzParseHeader).
package npy
