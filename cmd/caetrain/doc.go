// SPDX-License-Identifier: Apache-2.0

// Command caetrain trains contractive autoencoders (Rifai et al., ICML 2011)
// on Fashion-MNIST or MNIST, CIFAR-10, or the user's own data (.npy, .npz,
// CSV/TSV, safetensors, image folders: --data PATH), and evaluates them.
//
// Usage:
//
//	caetrain [train] [flags]                  train a model (the default action)
//	caetrain eval --model DIR [--data PATH] [--n N] [--report DIR]
//	caetrain encode --model DIR [--data PATH] --out FILE [--split train|test|both]
//	caetrain finetune --model DIR [--data DIR] [--epochs N] [--lr LR] [--batch B] [--val N] [--out DIR]
//	caetrain finetune --init random [--arch 784,1000 --act sigmoid] [flags]
//	caetrain probe                            (GPU builds) print the GPU's name
//
// Training writes into --out (default runs/<timestamp>):
//
//	model.safetensors   float32 weights [out,in] and biases: encoder.{i}.weight,
//	                    encoder.{i}.bias, decoder.{i}.weight (absent when tied),
//	                    decoder.{i}.bias, i from 0 in data-flow order
//	config.json         the architecture and how it was trained
//	metrics.jsonl       one Metrics object per line (see below)
//	reconstructions.png ten test images above their reconstructions
//	loss_curve.png      training loss and test reconstruction against steps
//	checkpoints/        the newest 3 checkpoints (ckpt-<step>.bin); --resume continues from them
//
// Each line of metrics.jsonl, and each event that --json prints on stdout,
// is a JSON object of this shape (engine.Metrics):
//
//	type Metrics struct {
//		Event   string  // "log" every --log-every steps, "epoch" at each epoch's end, "final"
//		Epoch   int
//		Step    int
//		Loss    float64 // means over the samples since the previous event of the same kind
//		Recon   float64
//		Penalty float64 // ‖J_h(x)‖²_F
//		Seconds float64
//		// epoch and final events only:
//		TestRecon       float64 `json:"test_recon"`
//		TestJacobianFro float64 `json:"test_jacobian_fro"` // mean ‖J_h(x)‖_F over the test set
//		SamplesPerS     float64 `json:"samples_per_s"`     // after the first 10 steps
//		Device          string
//	}
//
// --json also prints {"event":"start",...} first and {"event":"done",...}
// last. eval prints one JSON object: test_recon, test_jacobian_fro,
// test_jacobian_fro2 and n.
//
// finetune (Rifai et al., Table 1) copies a CAE's encoder into a classifier,
// adds a softmax layer and trains both on the labels' cross-entropy with
// Adam (or SGD), on the CPU or, with --device=cuda, the CUDA VM (the
// optimizer stays on the host). The last --val training samples pick the epoch;
// the test set is evaluated once, at the end, on every test image. It
// writes classifier.safetensors (the encoder's tensors as in
// model.safetensors, classifier.weight [classes, hidden], classifier.bias),
// config.json (with test_error), metrics.jsonl (one engine.FinetuneEpoch per
// epoch: train_loss, train_error, val_loss, val_error, best; then the final
// line: test_error, test_errors, test_n, test_loss, best_epoch,
// best_val_error), confusion.png, learning_curve_loss.png and
// learning_curve_error.png. eval --model on such a folder prints test_error,
// test_errors, test_loss and n.
//
// Exit status: 0 success, 1 failure, 2 usage error (bad flags, or
// --device=cuda where CUDA cannot run), 130 interrupted (a checkpoint and the
// model so far are saved).
package main
