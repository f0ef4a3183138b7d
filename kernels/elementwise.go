// SPDX-License-Identifier: Apache-2.0

package kernels

// Add is out = a + b. All [n].
func Add[T Float](out, a, b []T) {
	if len(out) != len(a) || len(b) != len(a) {
		panic("kernels: Add: wrong lengths")
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
