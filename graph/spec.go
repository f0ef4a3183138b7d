// SPDX-License-Identifier: Apache-2.0

package graph

import (
	"errors"
	"fmt"
)

// Activation names a layer's nonlinearity.
type Activation string

// The activations a layer may use. Linear is allowed only as OutAct.
const (
	Sigmoid Activation = "sigmoid"
	ReLU    Activation = "relu"
	Tanh    Activation = "tanh"
	Linear  Activation = "linear"
)

// LossKind names the per-sample reconstruction loss.
type LossKind string

// The reconstruction losses. Both are summed over the input's components.
const (
	SSE LossKind = "sse" // Σ_i (r_i − x_i)²
	BCE LossKind = "bce" // Σ_i −x_i log r_i − (1−x_i) log(1−r_i); needs a sigmoid output
)

// Spec describes a contractive autoencoder.
type Spec struct {
	// Arch lists the encoder widths from the input to the code, e.g.
	// [784 64 32 16]. The decoder mirrors it.
	Arch []int
	// Act is the activation of every encoder layer and every decoder layer
	// but the last: sigmoid, relu or tanh.
	Act Activation
	// OutAct is the decoder's last activation: sigmoid or linear.
	OutAct Activation
	// Tied makes decoder layer k use the transpose of encoder layer L+1−k's
	// weight; the decoder then has biases of its own but no weights.
	Tied bool
	// Loss is the reconstruction loss.
	Loss LossKind
	// Lambda weighs the contractive penalty.
	Lambda float64

	// HessGamma weighs the CAE+H term (Rifai et al., ECML 2011),
	// γ·E_ε‖J(x) − J(x+ε)‖²_F with ε ~ N(0, HessSigma²·I), estimated with
	// HessCopies noisy copies of each sample. Zero turns it off.
	HessGamma  float64
	HessSigma  float64
	HessCopies int
}

// Layers is the number of encoder layers.
func (s Spec) Layers() int { return len(s.Arch) - 1 }

// Validate reports what is wrong with s, if anything.
func (s Spec) Validate() error {
	errs := encoderErrors(s.Arch, s.Act)
	switch s.OutAct {
	case Sigmoid, Linear:
	default:
		errs = append(errs, fmt.Errorf("out-act %q: want sigmoid or linear", s.OutAct))
	}
	switch s.Loss {
	case SSE:
	case BCE:
		if s.OutAct != Sigmoid {
			errs = append(errs, fmt.Errorf("loss bce needs out-act sigmoid (outputs must lie in (0,1)), got %q", s.OutAct))
		}
	default:
		errs = append(errs, fmt.Errorf("loss %q: want sse or bce", s.Loss))
	}
	if !(s.Lambda >= 0) || s.Lambda > 1e12 {
		errs = append(errs, fmt.Errorf("lambda %v: must be a finite number ≥ 0", s.Lambda))
	}
	if !(s.HessGamma >= 0) || s.HessGamma > 1e12 {
		errs = append(errs, fmt.Errorf("hess-gamma %v: must be a finite number ≥ 0", s.HessGamma))
	}
	if s.HessGamma > 0 {
		if !(s.HessSigma > 0) || s.HessSigma > 1e6 {
			errs = append(errs, fmt.Errorf("hess-sigma %v: must be positive when hess-gamma > 0", s.HessSigma))
		}
		if s.HessCopies < 1 || s.HessCopies > 64 {
			errs = append(errs, fmt.Errorf("hess-copies %d: must be between 1 and 64 when hess-gamma > 0", s.HessCopies))
		}
	}
	return errors.Join(errs...)
}

// ParamShape is the name and shape of one parameter tensor, in the order
// Params holds them.
type ParamShape struct {
	Name  string // e.g. "encoder.0.weight", "decoder.1.bias"
	Shape []int  // weights [in, out], biases [out]
	Fan   [2]int // fan-in and fan-out, for initialisation; zero for biases
}

// ParamShapes lists the learnable tensors of s in a fixed order: encoder
// layers in data-flow order (weight then bias), then decoder layers (weight,
// unless tied, then bias).
func (s Spec) ParamShapes() []ParamShape {
	L := s.Layers()
	var ps []ParamShape
	for k := 0; k < L; k++ {
		in, out := s.Arch[k], s.Arch[k+1]
		ps = append(ps,
			ParamShape{Name: fmt.Sprintf("encoder.%d.weight", k), Shape: []int{in, out}, Fan: [2]int{in, out}},
			ParamShape{Name: fmt.Sprintf("encoder.%d.bias", k), Shape: []int{out}})
	}
	for k := 0; k < L; k++ {
		in, out := s.Arch[L-k], s.Arch[L-k-1]
		if !s.Tied {
			ps = append(ps, ParamShape{Name: fmt.Sprintf("decoder.%d.weight", k), Shape: []int{in, out}, Fan: [2]int{in, out}})
		}
		ps = append(ps, ParamShape{Name: fmt.Sprintf("decoder.%d.bias", k), Shape: []int{out}})
	}
	return ps
}

// encoderErrors are what is wrong with an encoder's widths and activation,
// which a CAE (Spec) and a classifier (ClassifierSpec) check alike.
func encoderErrors(arch []int, act Activation) []error {
	var errs []error
	if len(arch) < 2 {
		errs = append(errs, fmt.Errorf("arch %v: need at least an input and a code width", arch))
	}
	for i, w := range arch {
		if w <= 0 {
			errs = append(errs, fmt.Errorf("arch %v: width %d at position %d must be positive", arch, w, i))
		}
	}
	switch act {
	case Sigmoid, ReLU, Tanh:
	default:
		errs = append(errs, fmt.Errorf("act %q: want sigmoid, relu or tanh", act))
	}
	return errs
}
