// SPDX-License-Identifier: Apache-2.0

// Package caetrainbin finds the caetrain binary that the reproduction
// commands (internal/cmd/compare, internal/cmd/table1) run: the one given,
// or one built from the repository.
package caetrainbin
