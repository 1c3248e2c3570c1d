//go:build amd64 && !purego

#include "textflag.h"

// func dotQCAVX2(q []float32, c []int8) float32
// len(q) is a multiple of 16 and len(c) >= len(q).
TEXT ·dotQCAVX2(SB), NOSPLIT, $0-52
	MOVQ q_base+0(FP), DI
	MOVQ q_len+8(FP), CX
	MOVQ c_base+24(FP), SI
	SHRQ $4, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JZ qcdone

qcloop:
	VPMOVSXBD (SI), Y1
	VPMOVSXBD 8(SI), Y2
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VFMADD231PS (DI), Y1, Y0
	VFMADD231PS 32(DI), Y2, Y3
	ADDQ $16, SI
	ADDQ $64, DI
	DECQ CX
	JNZ qcloop

qcdone:
	VADDPS Y3, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotCCAVX2(a, b []int8) int32
// len(a) is a multiple of 32 and len(b) >= len(a).
TEXT ·dotCCAVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ b_base+24(FP), DI
	SHRQ $5, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y5, Y5, Y5
	TESTQ CX, CX
	JZ ccdone

ccloop:
	VPMOVSXBW (SI), Y1
	VPMOVSXBW (DI), Y2
	VPMADDWD Y2, Y1, Y1
	VPADDD Y1, Y0, Y0
	VPMOVSXBW 16(SI), Y3
	VPMOVSXBW 16(DI), Y4
	VPMADDWD Y4, Y3, Y3
	VPADDD Y3, Y5, Y5
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ ccloop

ccdone:
	VPADDD Y5, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPHADDD X0, X0, X0
	VPHADDD X0, X0, X0
	VZEROUPPER
	MOVQ X0, AX
	MOVL AX, ret+48(FP)
	RET
