package sim

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// Embeddings are feature hashing: every lowercased word, and every
// character trigram of a word padded with spaces, adds a signed weight to
// one of the model's dimensions chosen by its hash (mixed with the model's
// key, so that each seed and model has its own space). Texts that share
// words or word pieces therefore point the same way, and unrelated texts
// are nearly orthogonal. Vectors are L2-normalised. A request for fewer
// dimensions gets the model's vector cut to that many and normalised again,
// as OpenAI's models do.
const (
	wordWeight    = 1.0
	trigramWeight = 0.5
	wordTag       = 0x8f1bbcdcca62c1d6 // separates word hashes from trigram hashes
)

// embedder computes embeddings into a reusable buffer of the model's
// dimensions. It is used by one goroutine.
type embedder struct {
	m    *model
	full []float32
}

func newEmbedder(m *model) *embedder {
	return &embedder{m: m, full: make([]float32, m.dims)}
}

// vector writes the embedding of text, of dims dimensions, into out
// (len(out) == dims).
func (e *embedder) vector(text string, out []float32) {
	v := e.full
	clear(v)
	key := e.m.key
	features := 0
	add := func(h uint64, w float32) {
		h = mix(h ^ key)
		i := (h >> 32) * uint64(len(v)) >> 32
		if h&1 == 1 {
			w = -w
		}
		v[i] += w
		features++
	}
	var (
		word   uint64
		inWord bool
		a, b   rune // the two runes before the current one; a == 0 at a word's start
	)
	endWord := func() {
		add(trigram(a, b, ' '), trigramWeight)
		add(mix(word^wordTag), wordWeight)
		inWord = false
	}
	for i := 0; i < len(text); {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		i += size
		if r < utf8.RuneSelf {
			switch {
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			default:
				r = -1
			}
		} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
			r = unicode.ToLower(r)
		} else {
			r = -1
		}
		if r < 0 {
			if inWord {
				endWord()
			}
			continue
		}
		if !inWord {
			inWord, word, a, b = true, hashSeed, 0, ' '
		}
		word = (word ^ uint64(r)) * hashMul
		if a != 0 {
			add(trigram(a, b, r), trigramWeight)
		}
		a, b = b, r
	}
	if inWord {
		endWord()
	}
	if features == 0 {
		add(hashString(hashSeed, text), wordWeight)
	}
	copy(out, v)
	normalise(out, hashString(key, text))
}

// trigram hashes three runes (21 bits each).
func trigram(a, b, c rune) uint64 {
	return uint64(a)<<42 ^ uint64(b)<<21 ^ uint64(c)
}

// normalise scales v to unit length. A vector with no weight left (a short
// text cut to few dimensions) becomes a unit vector chosen by h.
func normalise(v []float32, h uint64) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		h = mix(h)
		v[(h>>32)*uint64(len(v))>>32] = 1
		return
	}
	k := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= k
	}
}
