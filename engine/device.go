// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"errors"
	"fmt"
)

// Device names where a model runs.
type Device string

// The devices.
const (
	CPU  Device = "cpu"
	CUDA Device = "cuda"
)

// ErrNoCUDA is returned by SelectDevice when CUDA was asked for and cannot be
// had; the command line treats it as a usage error.
var ErrNoCUDA = errors.New("CUDA is not available")

// SelectDevice resolves a --device value (auto, cpu or cuda) to the device
// the run will use, and says why in a line for the user.
func SelectDevice(req string) (Device, string, error) {
	switch req {
	case "", "auto":
		if ok, why := cudaUsable(); ok {
			return CUDA, "device: cuda (auto: " + why + ")", nil
		} else {
			return CPU, "device: cpu (auto: " + why + ")", nil
		}
	case "cpu":
		return CPU, "device: cpu", nil
	case "cuda":
		if ok, why := cudaUsable(); ok {
			return CUDA, "device: cuda (" + why + ")", nil
		} else {
			return "", "", fmt.Errorf("%w: %s", ErrNoCUDA, why)
		}
	}
	return "", "", fmt.Errorf("device %q: want auto, cpu or cuda", req)
}
