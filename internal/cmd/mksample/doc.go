// SPDX-License-Identifier: Apache-2.0

// Command mksample writes the Fashion-MNIST sample that the dataset package
// embeds: the first -train training images and the first -test test images,
// with their labels, as gzip-compressed (level 9) IDX files named like the
// real ones.
//
// Usage (run by go generate in internal/dataset):
//
//	go run ../cmd/mksample -src ../../../shared/data/fashion-mnist -dst sample
//
// The output is deterministic: the gzip headers carry no file name and no
// modification time. The defaults of -train and -test must match
// dataset.SampleTrain and dataset.SampleTest, and the four files together
// must stay under 3,000,000 bytes; mksample refuses to write more.
package main
