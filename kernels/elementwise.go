// SPDX-License-Identifier: Apache-2.0

package kernels

import "github.com/caetrain/caetrain/kernels/internal/vec"

// Add is out = a + b. All [n].
func Add[T Float](out, a, b []T) {
	if len(out) != len(a) || len(b) != len(a) {
		panic("kernels: Add: wrong lengths")
	}
	if o, ok := as32(out); ok {
		vec.Add(o, any(a).([]float32), any(b).([]float32))
		return
	}
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// Sub is out = a − b. All [n].
func Sub[T Float](out, a, b []T) {
	if len(out) != len(a) || len(b) != len(a) {
		panic("kernels: Sub: wrong lengths")
	}
	for i := range out {
		out[i] = a[i] - b[i]
	}
}

// Scale is out = s·a. out, a: [n].
func Scale[T Float](out, a []T, s T) {
	if len(out) != len(a) {
		panic("kernels: Scale: wrong lengths")
	}
	for i, v := range a {
		out[i] = s * v
	}
}

// AllFinite reports whether x holds no NaN and no ±Inf.
func AllFinite[T Float](x []T) bool {
	if x32, ok := as32(x); ok {
		return vec.AllFinite(x32)
	}
	for _, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return false
		}
	}
	return true
}
