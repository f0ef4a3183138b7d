// SPDX-License-Identifier: Apache-2.0

//go:build !purego

// The AVX2+FMA microkernel: a 6×16 block of C from a packed 6-row panel of
// A and a packed 16-column panel of B (see pack.go for their layouts).
// Y0…Y11 hold the block, two 8-lane vectors per row; Y12, Y13 one row of
// the B panel; Y14, Y15 broadcast elements of A. Each step of k is 2 loads
// of B, 6 broadcasts of A and 12 FMAs; the loop runs 4 steps per iteration.

#include "textflag.h"

// STEP is one step of k: A's six elements at AX + i·ar (R12 = ar, R13 =
// 3·ar, R14 = 5·ar), B's row at addresses b0 (its first 8 floats) and b1
// (its last 8); then AX moves on by a step of A (SI).
#define STEP(b0, b1) \
	VMOVUPS b0, Y12; \
	VMOVUPS b1, Y13; \
	VBROADCASTSS (AX), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS (AX)(R12*1), Y15; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
	VBROADCASTSS (AX)(R12*2), Y14; \
	VFMADD231PS Y12, Y14, Y4; \
	VFMADD231PS Y13, Y14, Y5; \
	VBROADCASTSS (AX)(R13*1), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VBROADCASTSS (AX)(R12*4), Y14; \
	VFMADD231PS Y12, Y14, Y8; \
	VFMADD231PS Y13, Y14, Y9; \
	VBROADCASTSS (AX)(R14*1), Y15; \
	VFMADD231PS Y12, Y15, Y10; \
	VFMADD231PS Y13, Y15, Y11; \
	ADDQ SI, AX

// FETCH6 prefetches six rows of 16 floats from R8, ld bytes apart (both
// cache lines a row may straddle); R8 ends at the sixth row.
#define FETCH6(ld) \
	PREFETCHT0 (R8); \
	PREFETCHT0 60(R8); \
	ADDQ ld, R8; \
	PREFETCHT0 (R8); \
	PREFETCHT0 60(R8); \
	ADDQ ld, R8; \
	PREFETCHT0 (R8); \
	PREFETCHT0 60(R8); \
	ADDQ ld, R8; \
	PREFETCHT0 (R8); \
	PREFETCHT0 60(R8); \
	ADDQ ld, R8; \
	PREFETCHT0 (R8); \
	PREFETCHT0 60(R8); \
	ADDQ ld, R8; \
	PREFETCHT0 (R8); \
	PREFETCHT0 60(R8)

// ADDROW adds row r's two vectors to C's row at DI; STROW stores them.
#define ADDROW(lo, hi) \
	VADDPS (DI), lo, lo; \
	VADDPS 32(DI), hi, hi; \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 32(DI); \
	ADDQ DX, DI

// PLUSROW adds D's row at R8 times s (Y14, Y15) to row r's vectors and
// stores them in C's row at DI.
#define PLUSROW(lo, hi) \
	VFMADD231PS (R8), Y14, lo; \
	VFMADD231PS 32(R8), Y15, hi; \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 32(DI); \
	ADDQ DX, DI; \
	ADDQ CX, R8

#define STROW(lo, hi) \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 32(DI); \
	ADDQ DX, DI

// func kernAVX2(np, k int, a *float32, as, ar, astep int, b *float32, ldb int, c *float32, ldc int, mode int, d *float32, ldd int, s *float32)
//
// np blocks of MR×NR, one under the other: block r from the panel of A
// that starts r·astep floats from a, the one panel of B, into C's rows
// [r·MR, r·MR+MR) from c. A's element (i, p) is as·p + ar·i floats from
// its panel's start: as = MR, ar = 1 in a packed panel; A's own strides
// when the kernel reads it in place. B's rows are ldb floats apart: NR in
// a packed panel, the matrix's row stride when the kernel reads B in
// place. R9, R10, R11 are 1, 3 and 4 rows of B. One call runs down a
// whole column of blocks, so the Go side's cost is paid once per panel of
// B, not once per block. mode says what becomes of C's block: 0, it is
// set to the product; 1, the product is added to it; 2, it is set to the
// product plus D's block (rows ldd floats apart, running down with C's)
// times s's 16 values column by column: C = A·B + D·diag(s), one FMA per
// value.
TEXT ·kernAVX2(SB), NOSPLIT, $24-112
	MOVQ np+0(FP), R8
	MOVQ R8, panels-8(SP)
	MOVQ a+16(FP), AX
	MOVQ AX, astart-16(SP)
	MOVQ d+88(FP), R8
	MOVQ R8, drow-24(SP)
	MOVQ as+24(FP), SI
	MOVQ ar+32(FP), R12
	MOVQ ldb+56(FP), R9
	MOVQ c+64(FP), DI
	MOVQ ldc+72(FP), DX
	SHLQ $2, SI
	SHLQ $2, R12
	LEAQ (R12)(R12*2), R13
	LEAQ (R12)(R12*4), R14
	SHLQ $2, DX
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ R9, R11
	SHLQ $2, R11

panel:
	// In mode 2, fetch D's block too: the stores read it.
	MOVQ mode+80(FP), R8
	CMPQ R8, $2
	JNE  fetchc
	MOVQ drow-24(SP), R8
	MOVQ ldd+96(FP), CX
	SHLQ $2, CX
	FETCH6(CX)

fetchc:
	MOVQ k+8(FP), CX
	MOVQ b+48(FP), BX
	MOVQ astart-16(SP), AX

	// Fetch C's block while the loop runs: it is read (acc) or written
	// once, at the end, and is often not in cache (a weight gradient's
	// 784×1000 floats); waiting for it then stalls the kernel.
	MOVQ    DI, R8
	FETCH6(DX)
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	CMPQ CX, $4
	JLT  one

four:
	STEP((BX), 32(BX))
	STEP((BX)(R9*1), 32(BX)(R9*1))
	STEP((BX)(R9*2), 32(BX)(R9*2))
	STEP((BX)(R10*1), 32(BX)(R10*1))
	ADDQ R11, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  four

one:
	TESTQ CX, CX
	JEQ   done
	STEP((BX), 32(BX))
	ADDQ  R9, BX
	DECQ  CX
	JMP   one

done:
	MOVQ mode+80(FP), R8
	CMPQ R8, $2
	JEQ  plus
	TESTQ R8, R8
	JEQ   store
	ADDROW(Y0, Y1)
	ADDROW(Y2, Y3)
	ADDROW(Y4, Y5)
	ADDROW(Y6, Y7)
	ADDROW(Y8, Y9)
	ADDROW(Y10, Y11)
	JMP     next

store:
	STROW(Y0, Y1)
	STROW(Y2, Y3)
	STROW(Y4, Y5)
	STROW(Y6, Y7)
	STROW(Y8, Y9)
	STROW(Y10, Y11)
	JMP next

plus:
	// Y14, Y15 = s; R8 walks D's rows (CX = ldd in bytes): the loop's
	// registers are free now.
	MOVQ    s+104(FP), R8
	VMOVUPS (R8), Y14
	VMOVUPS 32(R8), Y15
	MOVQ    ldd+96(FP), CX
	SHLQ    $2, CX
	MOVQ    drow-24(SP), R8
	PLUSROW(Y0, Y1)
	PLUSROW(Y2, Y3)
	PLUSROW(Y4, Y5)
	PLUSROW(Y6, Y7)
	PLUSROW(Y8, Y9)
	PLUSROW(Y10, Y11)
	MOVQ    R8, drow-24(SP)

next:
	// DI is at the next block's first row of C already.
	MOVQ astart-16(SP), AX
	MOVQ astep+40(FP), R8
	SHLQ $2, R8
	ADDQ R8, AX
	MOVQ AX, astart-16(SP)
	DECQ panels-8(SP)
	JNE  panel
	VZEROUPPER
	RET

// func transposeAVX2(dst *float32, ldd int, src *float32, lds int)
//
// dst[c·ldd + r] = src[r·lds + c] for r, c < 8: the classic AVX 8×8
// transpose (unpack pairs, shuffle quads, swap 128-bit halves).
TEXT ·transposeAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), CX
	SHLQ $2, DX
	SHLQ $2, CX
	VMOVUPS (SI), Y0
	ADDQ    CX, SI
	VMOVUPS (SI), Y1
	ADDQ    CX, SI
	VMOVUPS (SI), Y2
	ADDQ    CX, SI
	VMOVUPS (SI), Y3
	ADDQ    CX, SI
	VMOVUPS (SI), Y4
	ADDQ    CX, SI
	VMOVUPS (SI), Y5
	ADDQ    CX, SI
	VMOVUPS (SI), Y6
	ADDQ    CX, SI
	VMOVUPS (SI), Y7

	VUNPCKLPS Y1, Y0, Y8  // a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS Y1, Y0, Y9  // a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0  // a0 b0 c0 d0 | a4 b4 c4 d4
	VSHUFPS $0xEE, Y10, Y8, Y1  // a1 b1 c1 d1 | a5 b5 c5 d5
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4 // e0 f0 g0 h0 | e4 f4 g4 h4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8  // column 0
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12 // column 4
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	VMOVUPS Y8, (DI)
	ADDQ    DX, DI
	VMOVUPS Y9, (DI)
	ADDQ    DX, DI
	VMOVUPS Y10, (DI)
	ADDQ    DX, DI
	VMOVUPS Y11, (DI)
	ADDQ    DX, DI
	VMOVUPS Y12, (DI)
	ADDQ    DX, DI
	VMOVUPS Y13, (DI)
	ADDQ    DX, DI
	VMOVUPS Y14, (DI)
	ADDQ    DX, DI
	VMOVUPS Y15, (DI)
	VZEROUPPER
	RET

// func copyRowsAVX2(dst *float32, src *float32, lds int, k int)
//
// dst[p·16 + j] = src[p·lds + j] for p < k, j < 16: a panel of an
// untransposed B, one 64-byte row per step.
TEXT ·copyRowsAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), DX
	MOVQ k+24(FP), CX
	SHLQ $2, DX
	TESTQ CX, CX
	JEQ  copied

copyrow:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    DX, SI
	ADDQ    $64, DI
	DECQ    CX
	JNE     copyrow

copied:
	VZEROUPPER
	RET

// func packRows6(dst *float32, src *float32, lda int, k int)
//
// dst[p·6 + i] = src[i·lda + p] for p < k, i < 6: a panel of six rows of
// an untransposed A, interleaved.
TEXT ·packRows6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), DX
	MOVQ k+24(FP), CX
	SHLQ $2, DX
	LEAQ (DX)(DX*2), R8 // 3 rows
	LEAQ (DX)(DX*4), R9 // 5 rows
	TESTQ CX, CX
	JEQ   packed6

pack6:
	MOVL (SI), AX
	MOVL (SI)(DX*1), BX
	MOVL (SI)(DX*2), R10
	MOVL (SI)(R8*1), R11
	MOVL (SI)(DX*4), R12
	MOVL (SI)(R9*1), R13
	MOVL AX, (DI)
	MOVL BX, 4(DI)
	MOVL R10, 8(DI)
	MOVL R11, 12(DI)
	MOVL R12, 16(DI)
	MOVL R13, 20(DI)
	ADDQ $4, SI
	ADDQ $24, DI
	DECQ CX
	JNE  pack6

packed6:
	RET

// func packCols6(dst *float32, src *float32, lda int, k int)
//
// dst[p·6 + i] = src[p·lda + i] for p < k, i < 6: a panel of six columns
// of a transposed A (six contiguous values per step).
TEXT ·packCols6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), DX
	MOVQ k+24(FP), CX
	SHLQ $2, DX
	TESTQ CX, CX
	JEQ   packedCols6

packCols:
	MOVUPS (SI), X0
	MOVQ   16(SI), AX
	MOVUPS X0, (DI)
	MOVQ   AX, 16(DI)
	ADDQ   DX, SI
	ADDQ   $24, DI
	DECQ   CX
	JNE    packCols

packedCols6:
	RET
