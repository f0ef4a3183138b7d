// SPDX-License-Identifier: Apache-2.0

// Command table1 reproduces the headline of Rifai et al. (ICML 2011),
// Table 1: a 1000-unit sigmoid CAE (tied weights) pretrained on the images,
// its encoder then fine-tuned with a softmax layer into a classifier, against
// the same network pretrained as a plain autoencoder (λ = 0) and trained
// from random (Glorot) weights.
//
// For each data set it trains, with caetrain, a CAE for each λ of a small
// grid (--lambdas), fine-tunes each and keeps the λ whose classifier has the
// lowest validation error (the last --val training images; the test set is
// not used to choose); then the plain AE (λ = 0) and the random-init MLP
// under the same budget. With --refit-seeds, each row's recipe is then
// fine-tuned again on every training image (caetrain finetune --val 0) for
// the number of epochs its validation run chose, once per seed, and the
// table reports those test errors and their mean. It writes OUT/results.md (the table next to the
// paper's numbers, the λ grid, the exact command, seeds, wall times and the
// machine), OUT/results.json, and, with --doc DIR, copies results.md to
// DIR/README.md with the chosen models' confusion matrices and learning
// curves.
//
// Run it from the repository root:
//
//	go run ./internal/cmd/table1 --mnist DIR [--fashion DIR] [--pretrain-epochs 10] [--finetune-epochs 20] [--out table1-results] [--doc docs/table1]
//
// Every run is seeded (--seed; the refits by --refit-seeds). --reuse keeps
// the models already in OUT and continues a killed run there from its
// checkpoints. docs/table1 says which budget made its table.
package main
