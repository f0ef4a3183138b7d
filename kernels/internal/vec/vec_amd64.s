// SPDX-License-Identifier: Apache-2.0

//go:build !purego

// AVX2 + FMA kernels, 8 float32 lanes per instruction. The entry points in
// dispatch.go check the slice lengths; here the first slice's length is the
// element count and the others are at least as long.
//
// The elementwise loops (and softplus's) run 16 elements, two vectors, per
// iteration; then one vector if 8 or more are left; then the last 1 to 7
// elements with masked loads and stores (VMASKMOVPS, which neither reads
// nor writes the lanes masked off), so every element goes through the same
// arithmetic. CX counts the elements left.

#include "textflag.h"

// VEC8 defines name as 8 copies of the float32 v (a 32-byte vector, so it can
// be an FMA's memory operand, which AVX2 cannot broadcast).
#define VEC8(name, v) \
	DATA name+0(SB)/4, v; \
	DATA name+4(SB)/4, v; \
	DATA name+8(SB)/4, v; \
	DATA name+12(SB)/4, v; \
	DATA name+16(SB)/4, v; \
	DATA name+20(SB)/4, v; \
	DATA name+24(SB)/4, v; \
	DATA name+28(SB)/4, v; \
	GLOBL name(SB), RODATA|NOPTR, $32

// The clamp of exp's argument: e^−87.3 ≈ 1.2e-38 is just above the least
// normal float32 (2^−126 ≈ 1.18e-38) and e^88.7 ≈ 3.3e38 just below the
// largest (≈ 3.4e38), so the result is always a finite normal float32 (the
// same clamp as ExpGo).
VEC8(expLo<>, $-87.3)
VEC8(expHi<>, $88.7)

// Cody–Waite reduction, from Cephes expf.c: n = round(x·log2(e)), then
// r = x − n·C1 − n·C2 with C1 + C2 = ln 2. C1 = 0.693359375 = 355/512 has
// 9 significant bits, so n·C1 is exact for |n| ≤ 128 and only n·C2 rounds.
VEC8(expLog2e<>, $1.44269504088896341)
VEC8(expC1<>, $0.693359375)
VEC8(expC2<>, $-2.12194440e-4)

// The polynomial of Cephes expf.c: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2,
// P(r) = P0·r⁵ + P1·r⁴ + … + P5 (peak relative error 4.2e-9 in theory).
VEC8(expP0<>, $1.9875691500e-4)
VEC8(expP1<>, $1.3981999507e-3)
VEC8(expP2<>, $8.3334519073e-3)
VEC8(expP3<>, $4.1665795894e-2)
VEC8(expP4<>, $1.6666665459e-1)
VEC8(expP5<>, $5.0000001201e-1)

VEC8(one<>, $1.0)

// signBit has only the sign bit set in each lane: XOR with it negates, OR
// with it makes a lane −|x|.
DATA signBit<>+0(SB)/8, $0x8000000080000000
DATA signBit<>+8(SB)/8, $0x8000000080000000
DATA signBit<>+16(SB)/8, $0x8000000080000000
DATA signBit<>+24(SB)/8, $0x8000000080000000
GLOBL signBit<>(SB), RODATA|NOPTR, $32

// one64 is 4 float64 ones, for softplus's factors 1 + e^−|z|.
DATA one64<>+0(SB)/8, $1.0
DATA one64<>+8(SB)/8, $1.0
DATA one64<>+16(SB)/8, $1.0
DATA one64<>+24(SB)/8, $1.0
GLOBL one64<>(SB), RODATA|NOPTR, $32

// tailMask is 8 lanes of all ones then 8 of zeros: the 8 lanes at
// tailMask+32−4k enable exactly the first k.
DATA tailMask<>+0(SB)/8, $-1
DATA tailMask<>+8(SB)/8, $-1
DATA tailMask<>+16(SB)/8, $-1
DATA tailMask<>+24(SB)/8, $-1
DATA tailMask<>+32(SB)/8, $0
DATA tailMask<>+40(SB)/8, $0
DATA tailMask<>+48(SB)/8, $0
DATA tailMask<>+56(SB)/8, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $64

// negInf is 8 float32 −Inf: softplus's tail fills the lanes it masks off
// with it (factor 1 + e^−87.3 = 1 in float64, max(−Inf, 0) = 0).
VEC8(negInf<>, $0xff800000)

// TAILMASK sets mask to enable the first k lanes, k = CX in [1, 7]; it
// overwrites AX and CX.
#define TAILMASK(mask) \
	LEAQ tailMask<>+32(SB), AX; \
	NEGQ CX; \
	VMOVUPS (AX)(CX*4), mask

// EXPCONSTS loads the constants the exp core keeps in registers:
// Y15 = lower clamp, Y14 = upper clamp, Y13 = log2(e), Y12 = C1, Y11 = C2,
// Y10 = 1.0. The polynomial's coefficients stay in memory.
#define EXPCONSTS \
	VMOVUPS expLo<>(SB), Y15; \
	VMOVUPS expHi<>(SB), Y14; \
	VMOVUPS expLog2e<>(SB), Y13; \
	VMOVUPS expC1<>(SB), Y12; \
	VMOVUPS expC2<>(SB), Y11; \
	VMOVUPS one<>(SB), Y10

// CLAMP sets x = min(hi, max(lo, x)). x is the operand that (V)MAXPS and
// (V)MINPS return when a lane is NaN, so NaN stays NaN.
#define CLAMP(x) \
	VMAXPS x, Y15, x; \
	VMINPS x, Y14, x

// EXPCORE sets p = e^x for an x already clamped to [−87.3, 88.7]; it
// overwrites x (with r) and n, and needs the registers of EXPCONSTS.
//
//	n = round(x·log2 e)            nearest, ties to even
//	r = x − n·C1 − n·C2            two FNMAs, |r| ≤ ln2/2
//	p = (P(r)·r + 1)·r + 1         Horner, = 1 + r + r²·P(r), 7 FMAs
//	p = p·2ⁿ                       add n to p's exponent field
//
// The last step adds n<<23 to p's bits: p is in [0.7, 1.42], so its biased
// exponent is 126 or 127, and the clamp keeps the sum in [1, 254]: the
// result is a normal float32 even at n = 128 (x = 88.7) where 2ⁿ itself is
// not. A NaN x gives n = 0x80000000, whose shift is 0, so NaN stays NaN.
#define EXPCORE(x, n, p) \
	VMULPS Y13, x, n; \
	VROUNDPS $0, n, n; \
	VFNMADD231PS Y12, n, x; \
	VFNMADD231PS Y11, n, x; \
	VMOVUPS expP0<>(SB), p; \
	VFMADD213PS expP1<>(SB), x, p; \
	VFMADD213PS expP2<>(SB), x, p; \
	VFMADD213PS expP3<>(SB), x, p; \
	VFMADD213PS expP4<>(SB), x, p; \
	VFMADD213PS expP5<>(SB), x, p; \
	VFMADD213PS Y10, x, p; \
	VFMADD213PS Y10, x, p; \
	VCVTPS2DQ n, n; \
	VPSLLD $23, n, n; \
	VPADDD n, p, p

// EXPCORE2 is EXPCORE on two vectors at once, (x, n, p) and (x2, n2, p2),
// their instructions interleaved for more independent work in flight
// (10–15% faster on Zen 3 than two EXPCOREs in a row).
#define EXPCORE2(x, n, p, x2, n2, p2) \
	VMULPS Y13, x, n; \
	VMULPS Y13, x2, n2; \
	VROUNDPS $0, n, n; \
	VROUNDPS $0, n2, n2; \
	VFNMADD231PS Y12, n, x; \
	VFNMADD231PS Y12, n2, x2; \
	VFNMADD231PS Y11, n, x; \
	VFNMADD231PS Y11, n2, x2; \
	VMOVUPS expP0<>(SB), p; \
	VMOVUPS expP0<>(SB), p2; \
	VFMADD213PS expP1<>(SB), x, p; \
	VFMADD213PS expP1<>(SB), x2, p2; \
	VFMADD213PS expP2<>(SB), x, p; \
	VFMADD213PS expP2<>(SB), x2, p2; \
	VFMADD213PS expP3<>(SB), x, p; \
	VFMADD213PS expP3<>(SB), x2, p2; \
	VFMADD213PS expP4<>(SB), x, p; \
	VFMADD213PS expP4<>(SB), x2, p2; \
	VFMADD213PS expP5<>(SB), x, p; \
	VFMADD213PS expP5<>(SB), x2, p2; \
	VFMADD213PS Y10, x, p; \
	VFMADD213PS Y10, x2, p2; \
	VFMADD213PS Y10, x, p; \
	VFMADD213PS Y10, x2, p2; \
	VCVTPS2DQ n, n; \
	VCVTPS2DQ n2, n2; \
	VPSLLD $23, n, n; \
	VPSLLD $23, n2, n2; \
	VPADDD n, p, p; \
	VPADDD n2, p2, p2

// func expAVX2(dst, src []float32)
// dst[i] = e^src[i] for i < len(dst), src clamped to [−87.3, 88.7].
TEXT ·expAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	EXPCONSTS
	SUBQ $16, CX
	JB   exp8

exp16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y3
	CLAMP(Y0)
	CLAMP(Y3)
	EXPCORE2(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPS Y2, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JAE     exp16

exp8:
	ADDQ $16, CX
	CMPQ CX, $8
	JB   expTail
	VMOVUPS (SI), Y0
	CLAMP(Y0)
	EXPCORE(Y0, Y1, Y2)
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX

expTail:
	TESTQ CX, CX
	JZ    expDone
	TAILMASK(Y8)
	VMASKMOVPS (SI), Y8, Y0
	CLAMP(Y0)
	EXPCORE(Y0, Y1, Y2)
	VMASKMOVPS Y2, Y8, (DI)

expDone:
	VZEROUPPER
	RET

// NEGCLAMP sets x = −x, clamped, for the sigmoids (Y9 = signBit).
#define NEGCLAMP(x) \
	VXORPS Y9, x, x; \
	CLAMP(x)

// RECIP1P sets p = 1/(1+p) (Y10 = 1.0).
#define RECIP1P(p) \
	VADDPS Y10, p, p; \
	VDIVPS p, Y10, p

// func sigmoidAVX2(dst, src []float32)
// dst[i] = 1/(1+e^−src[i]) for i < len(dst); dst may be src. The clamp of
// −x makes a large x give 1/(1+1.2e-38) = 1 and a very negative one
// 1/(1+3.3e38) ≈ 3e-39: finite, in [0, 1].
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	EXPCONSTS
	VMOVUPS signBit<>(SB), Y9
	SUBQ    $16, CX
	JB      sigmoid8

sigmoid16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y3
	NEGCLAMP(Y0)
	NEGCLAMP(Y3)
	EXPCORE2(Y0, Y1, Y2, Y3, Y4, Y5)
	RECIP1P(Y2)
	RECIP1P(Y5)
	VMOVUPS Y2, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JAE     sigmoid16

sigmoid8:
	ADDQ $16, CX
	CMPQ CX, $8
	JB   sigmoidTail
	VMOVUPS (SI), Y0
	NEGCLAMP(Y0)
	EXPCORE(Y0, Y1, Y2)
	RECIP1P(Y2)
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX

sigmoidTail:
	TESTQ CX, CX
	JZ    sigmoidDone
	TAILMASK(Y8)
	VMASKMOVPS (SI), Y8, Y0
	NEGCLAMP(Y0)
	EXPCORE(Y0, Y1, Y2)
	RECIP1P(Y2)
	VMASKMOVPS Y2, Y8, (DI)

sigmoidDone:
	VZEROUPPER
	RET

// func addSigmoidAVX2(dst, x, b []float32)
// dst[i] = σ(x[i] + b[i]) for i < len(dst); dst may be x. x+b is rounded
// to float32 first, as in AddSigmoidGo.
TEXT ·addSigmoidAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	EXPCONSTS
	VMOVUPS signBit<>(SB), Y9
	SUBQ    $16, CX
	JB      addSigmoid8

addSigmoid16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y3
	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y3, Y3
	NEGCLAMP(Y0)
	NEGCLAMP(Y3)
	EXPCORE2(Y0, Y1, Y2, Y3, Y4, Y5)
	RECIP1P(Y2)
	RECIP1P(Y5)
	VMOVUPS Y2, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JAE     addSigmoid16

addSigmoid8:
	ADDQ $16, CX
	CMPQ CX, $8
	JB   addSigmoidTail
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	NEGCLAMP(Y0)
	EXPCORE(Y0, Y1, Y2)
	RECIP1P(Y2)
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX

addSigmoidTail:
	TESTQ CX, CX
	JZ    addSigmoidDone
	TAILMASK(Y8)
	VMASKMOVPS (SI), Y8, Y0
	VMASKMOVPS (DX), Y8, Y1
	VADDPS     Y1, Y0, Y0
	NEGCLAMP(Y0)
	EXPCORE(Y0, Y1, Y2)
	RECIP1P(Y2)
	VMASKMOVPS Y2, Y8, (DI)

addSigmoidDone:
	VZEROUPPER
	RET

// POSSUM adds max(z, 0) to the float64 sums Y8 (lanes 0-3) and Y9 (lanes
// 4-7); a (xa its low half) and b are scratch. Y14 is 0 and z the operand
// (V)MAXPS returns for NaN, so a NaN z makes the sum NaN.
#define POSSUM(z, a, xa, b) \
	VMAXPS z, Y14, a; \
	VCVTPS2PD xa, b; \
	VADDPD b, Y8, Y8; \
	VEXTRACTF128 $1, a, xa; \
	VCVTPS2PD xa, b; \
	VADDPD b, Y9, Y9

// NEGABS sets z = max(−87.3, −|z|), exp's argument for the factors.
#define NEGABS(z) \
	VORPS signBit<>(SB), z, z; \
	VMAXPS z, Y15, z

// FACTORS multiplies 1 + float64(p) into the products Y6 (lanes 0-3) and
// Y7 (lanes 4-7); p (xp its low half) and b are overwritten. 1+p is
// rounded once, by at most 2^−53 relative.
#define FACTORS(p, xp, b) \
	VCVTPS2PD xp, b; \
	VADDPD one64<>(SB), b, b; \
	VMULPD b, Y6, Y6; \
	VEXTRACTF128 $1, p, xp; \
	VCVTPS2PD xp, p; \
	VADDPD one64<>(SB), p, p; \
	VMULPD p, Y7, Y7

// SOFTPLUS8 runs one vector z through the sums and the products, with a
// and b as scratch (xa, xb their low halves).
#define SOFTPLUS8(z, a, xa, b, xb) \
	POSSUM(z, a, xa, b); \
	NEGABS(z); \
	EXPCORE(z, a, b); \
	FACTORS(b, xb, a)

// func softplusAVX2(z []float32, acc *[16]float64)
// For len(z) ≤ 8·1000 it sets, for each lane j < 8 (the z[i] with
// i ≡ j mod 8),
//
//	acc[j]   = Π (1 + e^−|z[i]|)     in float64
//	acc[8+j] = Σ max(z[i], 0)        in float64
//
// so Σ softplus(z) = Σ acc[8:] + Σ log acc[:8]. Each factor is in (1, 2]
// and a lane holds at most 1000 of them, so no product overflows.
TEXT ·softplusAVX2(SB), NOSPLIT, $0-32
	MOVQ z_base+0(FP), SI
	MOVQ z_len+8(FP), CX
	MOVQ acc+24(FP), DI
	EXPCONSTS
	VXORPS  Y14, Y14, Y14   // 0 for POSSUM (the upper clamp is unused)
	VMOVUPD one64<>(SB), Y6 // products, lanes 0-3
	VMOVUPD Y6, Y7          // products, lanes 4-7
	VXORPD  Y8, Y8, Y8      // sums, lanes 0-3
	VXORPD  Y9, Y9, Y9      // sums, lanes 4-7
	SUBQ    $16, CX
	JB      softplus8

softplus16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y3
	POSSUM(Y0, Y1, X1, Y2)
	POSSUM(Y3, Y4, X4, Y5)
	NEGABS(Y0)
	NEGABS(Y3)
	EXPCORE2(Y0, Y1, Y2, Y3, Y4, Y5)
	FACTORS(Y2, X2, Y1)
	FACTORS(Y5, X5, Y4)
	ADDQ $64, SI
	SUBQ $16, CX
	JAE  softplus16

softplus8:
	ADDQ $16, CX
	CMPQ CX, $8
	JB   softplusTail
	VMOVUPS (SI), Y0
	SOFTPLUS8(Y0, Y1, X1, Y2, X2)
	ADDQ    $32, SI
	SUBQ    $8, CX

softplusTail:
	// The lanes masked off become −Inf: factor 1, max(z, 0) = 0.
	TESTQ CX, CX
	JZ    softplusStore
	TAILMASK(Y3)
	VMOVUPS    negInf<>(SB), Y4
	VMASKMOVPS (SI), Y3, Y0
	VBLENDVPS  Y3, Y0, Y4, Y0
	SOFTPLUS8(Y0, Y1, X1, Y2, X2)

softplusStore:
	VMOVUPD Y6, (DI)
	VMOVUPD Y7, 32(DI)
	VMOVUPD Y8, 64(DI)
	VMOVUPD Y9, 96(DI)
	VZEROUPPER
	RET

// func adamAVX2(p, g, m, v []float32, k *[8]float32, zero bool)
// One Adam step on p[:len(p)&^7] (the entry point runs AdamGo on the
// tail), with k = {b1, 1−b1, b2, 1−b2, c1, c2, lr, eps}; zeroes g if zero
// is set (BX). The
// operations and their order are AdamGo's, without FMA contraction, so
// that the results are the same bit for bit (√ of a float32 rounded once
// to float32 is what float32(math.Sqrt(float64(x))) gives).
TEXT ·adamAVX2(SB), NOSPLIT, $0-105
	MOVBLZX zero+104(FP), BX
	MOVQ p_base+0(FP), DI
	MOVQ p_len+8(FP), CX
	MOVQ g_base+24(FP), SI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	MOVQ k+96(FP), AX
	SHRQ $3, CX
	JZ   adamDone

	// Y8..Y15 = b1, 1−b1, b2, 1−b2, c1, c2, lr, eps; Y7 = 0.
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15
	VXORPS       Y7, Y7, Y7

adamLoop:
	// Y1 = m' = b1·m + (1−b1)·g.
	VMOVUPS (SI), Y0
	VMULPS  (R8), Y8, Y1
	VMULPS  Y0, Y9, Y2
	VADDPS  Y2, Y1, Y1

	// Y3 = v' = b2·v + ((1−b2)·g)·g.
	VMULPS (R9), Y10, Y3
	VMULPS Y0, Y11, Y4
	VMULPS Y0, Y4, Y4
	VADDPS Y4, Y3, Y3

	VMOVUPS Y1, (R8)
	VMOVUPS Y3, (R9)
	TESTQ   BX, BX
	JEQ     adamKeep
	VMOVUPS Y7, (SI)

adamKeep:

	// Y4 = √(v'·c2) + eps.
	VMULPS  Y13, Y3, Y4
	VSQRTPS Y4, Y4
	VADDPS  Y15, Y4, Y4

	// p −= (lr·(m'·c1)) / Y4.
	VMULPS  Y12, Y1, Y5
	VMULPS  Y5, Y14, Y5
	VDIVPS  Y4, Y5, Y5
	VMOVUPS (DI), Y6
	VSUBPS  Y5, Y6, Y6
	VMOVUPS Y6, (DI)

	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  adamLoop

adamDone:
	VZEROUPPER
	RET

// expBits is 8 × the float32 exponent field, 0x7f800000: a value is NaN or
// ±Inf exactly when all its exponent bits are set.
VEC8(expBits<>, $0x7f800000)

// func finiteAVX2(x []float32) bool
// finiteAVX2 reports whether x[:len(x)&^7] holds no NaN and no ±Inf.
TEXT ·finiteAVX2(SB), NOSPLIT, $0-25
	MOVQ    x_base+0(FP), SI
	MOVQ    x_len+8(FP), CX
	VMOVUPS expBits<>(SB), Y2
	VPXOR   Y3, Y3, Y3
	SHRQ    $3, CX
	JZ      finiteDone

finiteLoop:
	// Y3 |= lanes whose exponent bits are all set.
	VPAND    (SI), Y2, Y0
	VPCMPEQD Y2, Y0, Y0
	VPOR     Y0, Y3, Y3
	ADDQ     $32, SI
	DECQ     CX
	JNZ      finiteLoop

finiteDone:
	VPTEST    Y3, Y3
	SETEQ     AL
	VZEROUPPER
	MOVB      AL, ret+24(FP)
	RET

// func addAVX2(dst, x, y []float32)
// addAVX2 sets dst[i] = x[i] + y[i] for i < len(dst)&^7.
TEXT ·addAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	SHRQ $3, CX
	JZ   addDone

addLoop:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     addLoop

addDone:
	VZEROUPPER
	RET

// func scaleMulAVX2(dst []float32, s float32, x, y []float32)
// scaleMulAVX2 sets dst[i] = (s·x[i])·y[i] for i < len(dst)&^7.
TEXT ·scaleMulAVX2(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y1
	MOVQ         x_base+32(FP), SI
	MOVQ         y_base+56(FP), DX
	SHRQ         $3, CX
	JZ           scaleMulDone

scaleMulLoop:
	VMULPS  (SI), Y1, Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     scaleMulLoop

scaleMulDone:
	VZEROUPPER
	RET

// The activations' derivatives. Each loop takes 8 elements per iteration,
// len(dst)&^7 in all (the dispatchers run the Go versions on the rest),
// and does the Go version's float32 operations in its order, so the
// results are the same bit for bit. SI is a, DX g (a again where there is
// no g).

// func sigmoidDerivAVX2(dst, a []float32)
// dst = a·(1−a).
TEXT ·sigmoidDerivAVX2(SB), NOSPLIT, $0-48
	MOVQ    dst_base+0(FP), DI
	MOVQ    dst_len+8(FP), CX
	MOVQ    a_base+24(FP), SI
	MOVQ    SI, DX
	VMOVUPS one<>(SB), Y2
	SHRQ $3, CX
	JZ   sdDone

sdLoop:
	VMOVUPS (SI), Y0
	VSUBPS Y0, Y2, Y1
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  sdLoop

sdDone:
	VZEROUPPER
	RET

// func sigmoidBackwardAVX2(dst, a, g []float32)
// dst = g·(a·(1−a)).
TEXT ·sigmoidBackwardAVX2(SB), NOSPLIT, $0-72
	MOVQ    dst_base+0(FP), DI
	MOVQ    dst_len+8(FP), CX
	MOVQ    a_base+24(FP), SI
	MOVQ    g_base+48(FP), DX
	VMOVUPS one<>(SB), Y2
	SHRQ $3, CX
	JZ   sbDone

sbLoop:
	VMOVUPS (SI), Y0
	VSUBPS Y0, Y2, Y1
	VMULPS Y1, Y0, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  sbLoop

sbDone:
	VZEROUPPER
	RET

// func sigmoidDerivBackwardAVX2(dst, a, g []float32)
// dst = g·(1−2a); 2a is a+a, exact as the Go version's 2*a.
TEXT ·sigmoidDerivBackwardAVX2(SB), NOSPLIT, $0-72
	MOVQ    dst_base+0(FP), DI
	MOVQ    dst_len+8(FP), CX
	MOVQ    a_base+24(FP), SI
	MOVQ    g_base+48(FP), DX
	VMOVUPS one<>(SB), Y2
	SHRQ $3, CX
	JZ   sdbDone

sdbLoop:
	VMOVUPS (SI), Y0
	VADDPS Y0, Y0, Y0
	VSUBPS Y0, Y2, Y1
	VMULPS (DX), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  sdbLoop

sdbDone:
	VZEROUPPER
	RET

// func reluBackwardAVX2(dst, a, g []float32)
// dst = g where a > 0 (ordered: not for NaN), else +0.
TEXT ·reluBackwardAVX2(SB), NOSPLIT, $0-72
	MOVQ   dst_base+0(FP), DI
	MOVQ   dst_len+8(FP), CX
	MOVQ   a_base+24(FP), SI
	MOVQ   g_base+48(FP), DX
	VXORPS Y2, Y2, Y2
	SHRQ $3, CX
	JZ   rbDone

rbLoop:
	VMOVUPS (SI), Y0
	VCMPPS $0x0e, Y2, Y0, Y0
	VANDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  rbLoop

rbDone:
	VZEROUPPER
	RET

// func scaleDiffAVX2(dst, a, x []float32, s float32)
// dst = s·(a−x): the gradient of the loss through a linear output, or BCE's.
TEXT ·scaleDiffAVX2(SB), NOSPLIT, $0-76
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         x_base+48(FP), DX
	VBROADCASTSS s+72(FP), Y2
	SHRQ         $3, CX
	JZ           sdfDone

sdfLoop:
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMULPS  Y0, Y2, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sdfLoop

sdfDone:
	VZEROUPPER
	RET

// func sigmoidSSEGradAVX2(dst, a, x []float32, s float32)
// dst = (s·(a−x))·(a·(1−a)): the squared error's gradient through a
// sigmoid output a.
TEXT ·sigmoidSSEGradAVX2(SB), NOSPLIT, $0-76
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         x_base+48(FP), DX
	VBROADCASTSS s+72(FP), Y2
	VMOVUPS      one<>(SB), Y3
	SHRQ         $3, CX
	JZ           ssgDone

ssgLoop:
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y1
	VMULPS  Y1, Y2, Y1
	VSUBPS  Y0, Y3, Y4
	VMULPS  Y4, Y0, Y0
	VMULPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     ssgLoop

ssgDone:
	VZEROUPPER
	RET

// func sqDistAVX2(a, b []float32, acc *[4]float64)
// acc[j] += Σ float64(a[i]−b[i])² over the i ≡ j mod 4, i < len(a)&^3, in
// order: the Go version's four partial sums, rounded as it rounds them
// (a float32 difference, then a float64 square and sum, no FMA).
TEXT ·sqDistAVX2(SB), NOSPLIT, $0-56
	MOVQ    a_base+0(FP), SI
	MOVQ    a_len+8(FP), CX
	MOVQ    b_base+24(FP), DX
	MOVQ    acc+48(FP), DI
	VMOVUPD (DI), Y2
	SHRQ    $2, CX
	JZ      sqdDone

sqdLoop:
	VMOVUPS   (SI), X0
	VSUBPS    (DX), X0, X0
	VCVTPS2PD X0, Y0
	VMULPD    Y0, Y0, Y0
	VADDPD    Y0, Y2, Y2
	ADDQ      $16, SI
	ADDQ      $16, DX
	DECQ      CX
	JNZ       sqdLoop

sqdDone:
	VMOVUPD Y2, (DI)
	VZEROUPPER
	RET

// func mulAVX2(dst, x, y []float32)
// mulAVX2 sets dst[i] = x[i]·y[i] for i < len(dst)&^7.
TEXT ·mulAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	SHRQ $3, CX
	JZ   mulDone

mulLoop:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     mulLoop

mulDone:
	VZEROUPPER
	RET

// func addSq4AVX2(dst, w0, w1, w2, w3 []float32)
// dst[i] += (w0[i]² + w1[i]²) + (w2[i]² + w3[i]²) for i < len(dst)&^7.
TEXT ·addSq4AVX2(SB), NOSPLIT, $0-120
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ w0_base+24(FP), SI
	MOVQ w1_base+48(FP), DX
	MOVQ w2_base+72(FP), R8
	MOVQ w3_base+96(FP), R9
	SHRQ $3, CX
	JZ   addSq4Done

addSq4Loop:
	VMOVUPS (SI), Y0
	VMULPS  Y0, Y0, Y0
	VMOVUPS (DX), Y1
	VMULPS  Y1, Y1, Y1
	VADDPS  Y1, Y0, Y0
	VMOVUPS (R8), Y2
	VMULPS  Y2, Y2, Y2
	VMOVUPS (R9), Y3
	VMULPS  Y3, Y3, Y3
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, DI
	DECQ    CX
	JNZ     addSq4Loop

addSq4Done:
	VZEROUPPER
	RET
