// SPDX-License-Identifier: Apache-2.0

// Package engine trains and evaluates contractive autoencoders: it picks the
// device, owns the virtual machines that run graph's expression graphs,
// initialises parameters, runs Adam, and drives the training loop and its
// hooks. It also reads and writes trained models.
//
// # Virtual machines
//
// The model is one Gorgonia expression graph per batch size (package
// graph), forward and symbolic gradients, built once. Two VMs run it:
//
//   - the fast VM (default): caetrain's own. It walks the nodes the outputs
//     need, children first, and calls each op's kernel (package kernels)
//     into a buffer allocated once; matrix products are split into tiles
//     and row-wise kernels into blocks over a persistent worker pool, whose
//     workers spin briefly between batches rather than park (pool.go). A
//     training step allocates nothing. On several cores a training batch
//     of at least 32 rows per core is run data-parallel (shard.go): one
//     single-worker VM per block of rows over its own graph, a prologue for
//     the work that depends on the parameters alone, the packing of the
//     weights the shards multiply by transposed (once per step, for all
//     shards: kernels.PackedB), an epilogue for the gradient's tail that is
//     linear in the summed per-shard values, and Adam over all workers.
//   - Gorgonia's TapeMachine (Config.Machine = GorgoniaVM), the reference:
//     it runs the same graph and the same kernels, with the gradients bound
//     as dual values; the tests require the two to agree bit for bit.
//
// A training step is one run followed by a fused Adam step
// (kernels.AdamStep) that also zeroes the gradients, which Gorgonia's
// machine would otherwise accumulate across runs. With the fast VM a run is
// bit-for-bit reproducible for a given number of workers (GOMAXPROCS); data-
// parallel shards sum in another order than one VM, so runs on machines
// with different core counts agree to float32 rounding, not bit for bit. Evaluation uses a second,
// forward-only graph whose learnables share the training graph's tensors,
// so it never disturbs the gradients.
//
// # Batches
//
// Every sample is used every epoch. The last, partial batch runs through the
// same graph with its missing rows zeroed and masked out, and the loss is
// divided by the number of real rows, so its mean and gradients are exact.
//
// # Fine-tuning
//
// Finetuner trains the classifier of graph.BuildClassifier on caetrain's VM
// (or the TapeMachine) with Adam: ClassifierFromCAE copies a CAE's encoder
// and draws the softmax layer from the seed, RandomClassifier draws every
// layer. Finetune holds out a validation split (SplitValidation: the last N
// training samples), evaluates it after each epoch and restores the epoch
// with the lowest validation error; the test set is the caller's to
// evaluate, once. With Device CUDA the classifier's graph runs on the CUDA
// VM (gpuClassVM) and the optimizer stays on the host.
//
// # Reproducibility
//
// Parameters (Glorot-uniform weights, zero biases), each epoch's shuffled
// order and the CAE+H noise (a function of seed and step) come from the
// seed alone: the same seed and data give the same run, and checkpoints
// (checkpoint.go) resume a run exactly.
package engine
