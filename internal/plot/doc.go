// SPDX-License-Identifier: Apache-2.0

// Package plot draws caetrain's charts as PNG files with gonum.org/v1/plot:
// line charts of named series on linear or logarithmic axes (Figure), and
// the loss curve of a training run read from its metrics.jsonl (LossCurve).
// Files are written atomically. Points that a logarithmic axis cannot show
// (zero, negative, NaN or infinite values) are left out.
package plot
