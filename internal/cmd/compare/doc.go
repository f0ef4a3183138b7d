// SPDX-License-Identifier: Apache-2.0

// Command compare reproduces the comparison of Rifai et al. (ICML 2011) with
// caetrain: on MNIST and on Fashion-MNIST it trains a 1000-unit sigmoid CAE
// (the rifai preset, λ = 0.1), the same network with λ = 0 (a plain
// autoencoder) and, when this caetrain has the --hess-gamma flag, the CAE+H
// of Rifai et al. (ECML 2011); it evaluates each with `caetrain eval`, and
// writes a Markdown report with a table (mean ‖J_h(x)‖_F, test
// reconstruction loss, saturation, linear-probe and k-NN accuracy) and
// overlaid contraction curves and Jacobian spectra.
//
// Run it from the repository root:
//
//	go run ./internal/cmd/compare --mnist DIR --fashion DIR [--epochs 2] [--out compare-results]
//
// Either data set may be left out. It builds caetrain into OUT/bin (or uses
// --caetrain), trains into OUT/<data set>/<model>, runs eval --report on each
// model, and writes OUT/results.md, OUT/results.json and
// OUT/<data set>-{contraction,spectrum,loss}.png. --reuse skips training for
// models already in OUT, e.g. to re-run the evaluation with other sizes.
// Every run is seeded (--seed), so the same command gives the same report.
package main
