package use

// apply computes the affine map for n rows at once: row t of y (d.out
// wide) is d.b plus d.w times row t of x (d.in wide). Rows are contiguous
// and row-major.
//
// Nearly all of the model's arithmetic is here. Without SIMD in pure Go,
// speed comes from keeping the floating-point units busy and loads few:
// each pass of the inner loop multiplies two input rows by three weight
// rows into six independent float32 sums held in registers, so that every
// value loaded is used two or three times and no sum waits on the
// previous addition. Six is the measured optimum on amd64: Go keeps 15
// float registers free and issues a block's multiplies before its adds,
// so eight sums (2×4 or 4×2) spill to the stack and run at 60% of the
// speed; 3×3 spills worse. Reslicing every row to the length of the first
// lets the compiler drop the bounds checks of the inner loop.
func (d *dense) apply(y, x []float32, n int) {
	in, out := d.in, d.out
	x, y = x[:n*in], y[:n*out]
	t := 0
	for ; t+2 <= n; t += 2 {
		x0 := x[t*in : (t+1)*in]
		x1 := x[(t+1)*in : (t+2)*in][:len(x0)]
		y0 := y[t*out : (t+1)*out]
		y1 := y[(t+1)*out : (t+2)*out][:len(y0)]
		o := 0
		for ; o+3 <= out; o += 3 {
			w0 := d.w[o*in : (o+1)*in][:len(x0)]
			w1 := d.w[(o+1)*in : (o+2)*in][:len(x0)]
			w2 := d.w[(o+2)*in : (o+3)*in][:len(x0)]
			var s00, s01, s02, s10, s11, s12 float32
			for k, a0 := range x0 {
				a1 := x1[k]
				c0, c1, c2 := w0[k], w1[k], w2[k]
				s00 += a0 * c0
				s01 += a0 * c1
				s02 += a0 * c2
				s10 += a1 * c0
				s11 += a1 * c1
				s12 += a1 * c2
			}
			b := d.b[o : o+3]
			y0[o], y0[o+1], y0[o+2] = b[0]+s00, b[1]+s01, b[2]+s02
			y1[o], y1[o+1], y1[o+2] = b[0]+s10, b[1]+s11, b[2]+s12
		}
		for ; o < out; o++ {
			w0 := d.w[o*in : (o+1)*in]
			y0[o] = d.b[o] + dot(x0, w0)
			y1[o] = d.b[o] + dot(x1, w0)
		}
	}
	if t < n {
		x0 := x[t*in : (t+1)*in]
		y0 := y[t*out : (t+1)*out]
		for o := range y0 {
			y0[o] = d.b[o] + dot(x0, d.w[o*in:(o+1)*in])
		}
	}
}

// dot returns the inner product of a and b[:len(a)], summed in four
// interleaved parts.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(a); k += 4 {
		s0 += a[k] * b[k]
		s1 += a[k+1] * b[k+1]
		s2 += a[k+2] * b[k+2]
		s3 += a[k+3] * b[k+3]
	}
	for ; k < len(a); k++ {
		s0 += a[k] * b[k]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds a times x to y[:len(x)].
func axpy(y []float32, a float32, x []float32) {
	y = y[:len(x)]
	k := 0
	for ; k+4 <= len(x); k += 4 {
		y[k] += a * x[k]
		y[k+1] += a * x[k+1]
		y[k+2] += a * x[k+2]
		y[k+3] += a * x[k+3]
	}
	for ; k < len(x); k++ {
		y[k] += a * x[k]
	}
}
