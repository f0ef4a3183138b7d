// SPDX-License-Identifier: Apache-2.0

// Package vec holds the float32 loops that dominate a training step's
// non-matrix work, as AVX2/FMA assembly on amd64 CPUs that have it and as
// plain Go everywhere else: exp, the sigmoid (plain and with a bias), the
// sum of softplus over a row (the BCE loss), and Adam's update.
//
// Every function has a Go version (the *Go functions), which is also its
// specification; the tests check both against float64 math. The entry
// points (Exp, Sigmoid, AddSigmoid, SoftplusSum, Adam) run the assembly
// when it is built (amd64, without the purego build tag) and the CPU has
// AVX2 and FMA, and the Go versions otherwise; Impl says which.
//
// The assembly's exp is Cephes expf's: the argument clamped to
// [−87.3, 88.7], a Cody–Waite reduction by ln 2 and a degree-7 polynomial
// (1 + r + r²·P5(r)), with a relative error below 8e-8 (ExpGo, a float64
// math.Exp rounded to float32, is within 6e-8). Adam's assembly gives
// AdamGo's results bit for bit.
package vec
