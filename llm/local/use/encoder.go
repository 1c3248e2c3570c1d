package use

import (
	"math"
	"slices"
)

// The graph's constants (internal/gen checks them against the graph).
const (
	normEpsilon = 1e-6 // added to the variance in every layer norm
	l2Floor     = 1e-12
)

// encoder runs the model with reusable buffers. It is used by one
// goroutine.
type encoder struct {
	m   *model
	lat lattice
	// a and b hold the residual stream (the embeddings, then the output of
	// each layer, alternately); the others are scratch. All grow to the
	// longest input.
	a, b, h, qkv, att, ffn []float32
	scores                 []float32
	row                    []float32
	pooled                 []float32
}

func newEncoder(m *model) *encoder {
	return &encoder{m: m, row: make([]float32, embedDims), pooled: make([]float32, width)}
}

func (e *encoder) grow(n int) {
	g := func(s []float32, size int) []float32 { return slices.Grow(s[:0], size)[:size] }
	e.a, e.b, e.h = g(e.a, n*width), g(e.b, n*width), g(e.h, n*width)
	e.qkv, e.att, e.ffn = g(e.qkv, 3*n*width), g(e.att, n*width), g(e.ffn, n*ffnWidth)
	e.scores = g(e.scores, n)
}

// vector writes the embedding of text into out (len width) and returns the
// number of tokens the model read: at most MaxTokens, the first ones of
// the text.
//
// The computation is the graph's, in its order:
//
//  1. the token ids (the tokenizer), clipped to the first MaxTokens;
//  2. each token's embedding e and sinusoidal timing signal s (sines then
//     cosines of position × 128 frequencies); the graph adds the signal to
//     the embeddings and then adds the embeddings again, so the input is
//     e + (e + s);
//  3. two transformer layers (see layer);
//  4. the mean of the tokens' outputs, a 512×512 dense layer with tanh,
//     and L2 normalisation.
func (e *encoder) vector(text string, out []float32) int {
	m := e.m
	ids := m.tok.encode(&e.lat, text, MaxTokens)
	n := len(ids)
	e.grow(n)

	x := e.a[:n*embedDims]
	row := e.row
	for t, id := range ids {
		m.emb.row(int(id), row)
		xt := x[t*embedDims : (t+1)*embedDims]
		for i, f := range m.timescales {
			p := float32(t) * f
			sin, cos := math.Sincos(float64(p))
			xt[i] = row[i] + (row[i] + float32(sin))
			j := timingDims + i
			xt[j] = row[j] + (row[j] + float32(cos))
		}
	}
	e.layer(&m.layers[0], e.a, e.b, n)
	e.layer(&m.layers[1], e.b, e.a, n)

	// Mean over the tokens; a text without tokens pools to zeros, as the
	// graph's division by max(length, 1) makes it.
	pooled := e.pooled
	clear(pooled)
	for t := range n {
		axpy(pooled, 1, e.a[t*width:(t+1)*width])
	}
	inv := 1 / float32(max(n, 1))
	for i := range pooled {
		pooled[i] *= inv
	}
	m.hidden.apply(out, pooled, 1)
	var ss float32
	for i, v := range out[:width] {
		v = float32(math.Tanh(float64(v)))
		out[i] = v
		ss += v * v
	}
	scale := float32(1 / math.Sqrt(float64(max(ss, l2Floor))))
	for i := range out[:width] {
		out[i] *= scale
	}
	return n
}

// layer runs transformer layer l over the n rows of x (l.in wide) and
// writes its n rows of output (width wide) to dst:
//
//	y   = MultiheadAttention(LayerNorm(x)) + residual(x)
//	dst = y + FFN(LayerNorm(y))
//
// where residual is x, or for layer 0 the dense map from 256 to 512
// (AdjustResidualInput), and FFN is dense 512→1536, ReLU, dense 1536→512.
// Every token attends to every token of the text: the graph's padding
// bias only masks the padding of a batch, which a single text has none of.
func (e *encoder) layer(l *layer, x, dst []float32, n int) {
	in := l.in
	x, dst = x[:n*in], dst[:n*width]
	h := e.h[:n*in]
	l.attnNorm.apply(h, x, n, in)
	qkv := e.qkv[:3*n*in]
	l.qkv.apply(qkv, h, n)
	att := e.att[:n*in]
	e.attention(l, qkv, att, n)
	l.proj.apply(dst, att, n)
	if l.residual != nil {
		r := e.h[:n*width]
		l.residual.apply(r, x, n)
		axpy(dst, 1, r)
	} else {
		axpy(dst, 1, x)
	}

	h = e.h[:n*width]
	l.ffnNorm.apply(h, dst, n, width)
	f := e.ffn[:n*ffnWidth]
	l.ffnIn.apply(f, h, n)
	for i, v := range f {
		f[i] = max(v, 0)
	}
	y := e.att[:n*width]
	l.ffnOut.apply(y, f, n)
	axpy(dst, 1, y)
}

// attention computes scaled dot-product attention for each head over the
// rows of qkv (queries, keys and values side by side, l.in each) and writes
// the heads' outputs side by side to att.
func (e *encoder) attention(l *layer, qkv, att []float32, n int) {
	in, dh := l.in, l.headDims
	stride := 3 * in
	for t := range n {
		q := qkv[t*stride : t*stride+in]
		for i := range q {
			q[i] *= l.scale
		}
	}
	scores := e.scores[:n]
	for hd := range heads {
		off := hd * dh
		for t := range n {
			q := qkv[t*stride+off : t*stride+off+dh]
			top := float32(math.Inf(-1))
			for s := range n {
				k := qkv[s*stride+in+off : s*stride+in+off+dh]
				scores[s] = dot(q, k)
				top = max(top, scores[s])
			}
			var sum float32
			for s, v := range scores {
				p := float32(math.Exp(float64(v - top)))
				scores[s] = p
				sum += p
			}
			o := att[t*in+off : t*in+off+dh]
			clear(o)
			for s, p := range scores {
				axpy(o, p/sum, qkv[s*stride+2*in+off:s*stride+2*in+off+dh])
			}
		}
	}
}

// apply writes the layer norm of each of the n rows of x (d wide) to y.
func (nm *layerNorm) apply(y, x []float32, n, d int) {
	for t := range n {
		xr, yr := x[t*d:(t+1)*d], y[t*d:(t+1)*d]
		var sum float32
		for _, v := range xr {
			sum += v
		}
		mean := sum / float32(d)
		var sq float32
		for _, v := range xr {
			sq += (v - mean) * (v - mean)
		}
		rs := float32(1 / math.Sqrt(float64(sq/float32(d)+normEpsilon)))
		scale, bias := nm.scale[:d], nm.bias[:d]
		for i, v := range xr {
			yr[i] = scale[i]*rs*(v-mean) + bias[i]
		}
	}
}
