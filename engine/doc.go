// SPDX-License-Identifier: Apache-2.0

// Package engine trains and evaluates contractive autoencoders: it picks the
// device, owns the virtual machines that run graph's expression graphs,
// initialises parameters, runs Adam, and drives the training loop and its
// hooks. It also reads and writes trained models.
//
// # Virtual machines
//
// On the CPU a training step is one run of Gorgonia's TapeMachine over a
// graph built once for the batch size, with the gradients bound as dual
// values, followed by a fused Adam step (kernels.AdamStep) that also zeroes
// the gradients, which Gorgonia otherwise accumulates across runs.
// Evaluation uses a second, forward-only graph whose learnables share the
// training graph's tensors, so it never disturbs the gradients.
//
// # Batches
//
// Every sample is used every epoch. The last, partial batch runs through the
// same graph with its missing rows zeroed and masked out, and the loss is
// divided by the number of real rows, so its mean and gradients are exact.
//
// # Reproducibility
//
// Parameters (Glorot-uniform weights, zero biases) and each epoch's shuffled
// order come from the seed alone: the same seed and data give the same run.
package engine
