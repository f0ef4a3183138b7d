// SPDX-License-Identifier: Apache-2.0

// Package picture draws grids of small grayscale images, such as test
// images above their reconstructions, and writes them as PNG files.
package picture
