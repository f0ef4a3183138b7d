// SPDX-License-Identifier: Apache-2.0

// Package cifar reads the binary version of CIFAR-10
// (https://www.cs.toronto.edu/~kriz/cifar.html, "CIFAR-10 binary
// version"): data_batch_1.bin … data_batch_5.bin and test_batch.bin.
//
// # Format
//
// A batch file is a run of 3073-byte records: one label byte (0-9), then a
// 32×32 colour image as 1024 red, 1024 green and 1024 blue bytes, each
// plane row-major. There is no header, so a file's size must be a
// multiple of 3073.
//
// # Errors
//
// Every error names the file, the record and its byte offset, and what is
// wrong; no input makes the package panic (see FuzzDecode).
package cifar
