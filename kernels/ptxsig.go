// SPDX-License-Identifier: Apache-2.0

package kernels

import (
	"fmt"
	"regexp"
	"strings"
)

// Parameter kinds of a kernel signature, one byte per parameter: what the
// PTX declares (.param .u64 …) and what a launcher pushes (Device.ptr,
// i32, f32). The driver copies each parameter's declared width from the
// launch's argument slots, so a launcher that pushes a value of another
// width or kind is a bug no launch error reports; the gpu build checks
// every launch against its kernel's PTX signature instead.
const (
	kindInt64   = 'q' // .u64, .s64, .b64: pointers and 64-bit integers
	kindInt32   = 'i' // .u32, .s32, .b32
	kindFloat32 = 'f' // .f32
	kindFloat64 = 'd' // .f64
)

var (
	ptxEntry = regexp.MustCompile(`\.entry\s+([A-Za-z_$][A-Za-z0-9_$]*)\s*\(([^)]*)\)`)
	ptxParam = regexp.MustCompile(`\.param\s+(?:\.align\s+\d+\s+)?\.([a-z]+\d+)\s+[A-Za-z0-9_$]+(\[\d+\])?`)
)

// ptxSignatures returns the parameter kinds of each .entry of a PTX module.
func ptxSignatures(ptx string) (map[string]string, error) {
	sigs := map[string]string{}
	for _, m := range ptxEntry.FindAllStringSubmatch(ptx, -1) {
		var b strings.Builder
		for _, p := range strings.Split(m[2], ",") {
			if strings.TrimSpace(p) == "" {
				continue
			}
			pm := ptxParam.FindStringSubmatch(p)
			if pm == nil || pm[2] != "" {
				return nil, fmt.Errorf("kernels: PTX entry %s: parameter %q is not a scalar", m[1], strings.TrimSpace(p))
			}
			switch pm[1] {
			case "u64", "s64", "b64":
				b.WriteByte(kindInt64)
			case "u32", "s32", "b32":
				b.WriteByte(kindInt32)
			case "f32":
				b.WriteByte(kindFloat32)
			case "f64":
				b.WriteByte(kindFloat64)
			default:
				return nil, fmt.Errorf("kernels: PTX entry %s: parameter type .%s is not one caetrain's launchers push", m[1], pm[1])
			}
		}
		sigs[m[1]] = b.String()
	}
	return sigs, nil
}
