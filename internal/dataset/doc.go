// SPDX-License-Identifier: Apache-2.0

// Package dataset finds and loads the data caetrain trains on: the
// Fashion-MNIST (or MNIST) IDX files, and users' own data through Open.
//
// # Users' data (Open)
//
// Open reads, by the path's name or Options.Format: .npy and .npz arrays
// (internal/npy; float32 ones memory-mapped), CSV and TSV tables
// (internal/table), CIFAR-10 binary batches (internal/cifar), safetensors
// files with an x/y tensor pair, and image folders (DIR/<class>/*.png|jpg
// or flat, decoded on all cores). It checks the float32 size against
// MemAvailable first (ErrTooLarge), refuses NaN and infinite values, holds
// out a seeded test split when the data has none (holdOut; both splits keep
// the file's order), makes labels class indices, and scales the values
// (Scaling: bytes /255; floats minmax, standard or none, with the training
// split's statistics). OpenStream reads an .npy or CSV/TSV file a chunk of
// rows at a time, each row assigned and scaled as Open would, for eval and
// encode of data larger than memory.
//
// # IDX data (Load)
//
// The data comes from the first of these that applies (see Resolve):
//
//  1. the directory given with --data, if non-empty; it must exist and
//     hold the four files, else loading fails;
//  2. the directory named by the environment variable CAETRAIN_DATA, if
//     set and non-empty, with the same strictness;
//  3. SystemDir, /usr/share/datasets/fashion-mnist, where Debian's
//     "apt-get install dataset-fashion-mnist" puts the files, if it holds
//     all four;
//  4. the sample embedded in the binary.
//
// A data directory holds the four IDX files train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each gzip-compressed with a .gz suffix or raw;
// where both forms exist the .gz one is used.
//
// The embedded sample is the first 5800 training images (SampleTrain) and
// the first 1000 test images (SampleTest) of Fashion-MNIST, with their
// labels, stored as gzip-compressed IDX files in sample/ (2,976,358 bytes
// in all; the budget is 3,000,000). Every class has 540 to 623 training
// and 87 to 115 test images. The files are written by internal/cmd/mksample
// (see go generate); Fashion-MNIST is MIT-licensed, Copyright (c) 2017
// Zalando SE.
//
// Pixels are scaled to [0,1] (p/255) and stored row-major, one image after
// another, in Split.X.
package dataset
