// SPDX-License-Identifier: Apache-2.0

// Package atomicfile writes files atomically: the new contents are written
// to a temporary file in the destination directory, flushed to stable
// storage, and renamed over the destination. Readers therefore see either
// the old file or the complete new one, never a partial write, and a failed
// write leaves any existing file untouched.
package atomicfile
