package vector

import (
	"fmt"
	"math"
)

// Vectors are stored as int8 codes with one float32 scale per vector:
// after L2 normalisation, x[i] ≈ scale·code[i] with scale = max|x|/127.
// Per-vector scaling needs no training set, so the first vector is encoded
// as well as the millionth, and it is lossless to decode and re-encode
// (Compact relies on that). The dot product of a float query with a stored
// vector (asymmetric distance) is scale·Σ q[i]·code[i]; its error for
// 384-dimensional embeddings is about 1e-3, well below the gaps between
// neighbours' scores that matter for recall.

// normalize returns v scaled to unit length, in a new slice.
func normalize(v []float32, dim int) ([]float32, error) {
	if len(v) != dim {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrDimension, len(v), dim)
	}
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return nil, ErrZeroVector
	}
	inv := float32(1 / math.Sqrt(ss))
	out := make([]float32, dim)
	for i, x := range v {
		out[i] = x * inv
	}
	return out, nil
}

// quantize writes the int8 codes of the unit vector v into code and
// returns its scale.
func quantize(v []float32, code []int8) float32 {
	var m float32
	for _, x := range v {
		if x < 0 {
			x = -x
		}
		m = max(m, x)
	}
	scale := m / 127
	inv := 127 / m
	for i, x := range v {
		code[i] = int8(math.Round(float64(x * inv)))
	}
	return scale
}

// dequantize writes scale·code into v.
func dequantize(code []int8, scale float32, v []float32) {
	for i, c := range code {
		v[i] = float32(c) * scale
	}
}

// i8f maps an int8 code, as a byte, to its float value. A table load is
// about twice as fast as the int-to-float conversion it replaces in the
// inner loops below (BenchmarkDot).
var i8f = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(int8(uint8(i)))
	}
	return t
}()

// dotQCGo is Σ q[i]·c[i] for a float query and int8 codes of equal length.
func dotQCGo(q []float32, c []int8) float32 {
	n := len(q)
	c = c[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		qq := q[i : i+8 : i+8]
		cc := c[i : i+8 : i+8]
		s0 += qq[0]*i8f[uint8(cc[0])] + qq[4]*i8f[uint8(cc[4])]
		s1 += qq[1]*i8f[uint8(cc[1])] + qq[5]*i8f[uint8(cc[5])]
		s2 += qq[2]*i8f[uint8(cc[2])] + qq[6]*i8f[uint8(cc[6])]
		s3 += qq[3]*i8f[uint8(cc[3])] + qq[7]*i8f[uint8(cc[7])]
	}
	for ; i < n; i++ {
		s0 += q[i] * i8f[uint8(c[i])]
	}
	return s0 + s1 + s2 + s3
}

// dotCCGo is Σ a[i]·b[i] for int8 codes of equal length. Every product and
// partial sum is an integer below 2²⁴ for dim ≤ 1040, so the float32
// arithmetic is exact there; beyond, its relative error is ~1e-7.
func dotCCGo(a, b []int8) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += i8f[uint8(aa[0])]*i8f[uint8(bb[0])] + i8f[uint8(aa[4])]*i8f[uint8(bb[4])]
		s1 += i8f[uint8(aa[1])]*i8f[uint8(bb[1])] + i8f[uint8(aa[5])]*i8f[uint8(bb[5])]
		s2 += i8f[uint8(aa[2])]*i8f[uint8(bb[2])] + i8f[uint8(aa[6])]*i8f[uint8(bb[6])]
		s3 += i8f[uint8(aa[3])]*i8f[uint8(bb[3])] + i8f[uint8(aa[7])]*i8f[uint8(bb[7])]
	}
	for ; i < n; i++ {
		s0 += i8f[uint8(a[i])] * i8f[uint8(b[i])]
	}
	return s0 + s1 + s2 + s3
}

// dotF is Σ a[i]·b[i] for float vectors of equal length.
func dotF(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		aa := a[i : i+4 : i+4]
		bb := b[i : i+4 : i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
