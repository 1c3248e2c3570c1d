package use

import (
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// separator is sentencepiece's word separator; the tokenizer puts it in
// front of the text and in place of every space.
const separator = '▁'

// cgj is the combining grapheme joiner.
const cgj = '\u034f'

// reserved is how many pieces at the start of the vocabulary (the unknown
// piece, <s>, </s> and three spares) the tokenizer never produces from
// text, except the unknown piece, 0.
const reserved = 6

// tokenizer splits text into sentencepiece ids the way the reference
// JavaScript tokenizer of the model does (@energetic-ai/embeddings 0.2.0,
// itself a port of TensorFlow.js's universal-sentence-encoder tokenizer):
// NFKC, a separator in front and in place of each space, then the
// segmentation with the highest sum of piece scores (Viterbi over a trie
// of the pieces), characters no piece covers becoming the unknown piece 0,
// and runs of unknown pieces kept as one. Its quirks are kept on purpose,
// so that ids match the reference's: ties go to the piece that starts
// latest, a position whose best score so far is exactly 0 counts as not
// reached, and a character that starts a longer piece but is no piece by
// itself has no way through it but that longer piece.
//
// A tokenizer is immutable and safe for concurrent use.
type tokenizer struct {
	// units is each piece's length in UTF-16 code units, which is what
	// the reference steps back by (the same as its length in characters
	// for every piece of this vocabulary).
	units []int32
	// edges maps a trie node and a character to the child node; the root
	// is node 0.
	edges map[uint64]int32
	// piece and score are, for each trie node, the id of the piece that
	// ends there (-1 if none) and its score.
	piece []int32
	score []float64
}

func newTokenizer(pieces []string, scores []float64) *tokenizer {
	t := &tokenizer{
		units: make([]int32, len(pieces)),
		edges: make(map[uint64]int32, 6*len(pieces)),
		piece: []int32{-1},
		score: []float64{0},
	}
	for id, p := range pieces {
		for _, r := range p {
			t.units[id] += int32(utf16.RuneLen(r))
		}
		if id < reserved {
			continue
		}
		node := int32(0)
		for _, r := range p {
			k := edge(node, r)
			child, ok := t.edges[k]
			if !ok {
				child = int32(len(t.piece))
				t.edges[k] = child
				t.piece = append(t.piece, -1)
				t.score = append(t.score, 0)
			}
			node = child
		}
		// A piece listed twice keeps its last id and score, as the
		// reference's trie does.
		t.piece[node], t.score[node] = int32(id), scores[id]
	}
	return t
}

func edge(node int32, r rune) uint64 { return uint64(node)<<32 | uint64(uint32(r)) }

// lattice is a tokenizer's scratch space; it is used by one goroutine.
type lattice struct {
	symbols []rune
	best    []float64
	words   []int32
	ids     []int32
}

// maxScan bounds how much of a text encode segments when it needs only
// its first tokens: 64 KiB, some sixty times what MaxTokens tokens of
// prose take. It keeps the scratch space of a request small whatever the
// size of its inputs.
const maxScan = 64 << 10

// encode returns the ids of the first limit tokens of text, or of all of
// it if limit < 0. The result is only valid until the next call with l.
//
// With a limit it segments only as much of the text as it needs. No piece
// holds the separator except as its first character, so every separator
// is a boundary of every segmentation, and the tokens before it do not
// depend on what follows: encode segments a prefix of the text that ends
// before a space, doubling the prefix until it yields limit tokens. It
// looks no further than maxScan bytes; a text with no space in that much
// (or so many unknown characters that they make fewer than limit tokens)
// is segmented as if it ended there, which can change its last tokens.
func (t *tokenizer) encode(l *lattice, text string, limit int) []int32 {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if limit < 0 {
		return t.segment(l, text)
	}
	end := len(text)
	if end > maxScan {
		end = maxScan
		for end > 0 && !utf8.RuneStart(text[end]) {
			end--
		}
	}
	for n := 1024; ; n *= 2 {
		cut := end
		if n < end {
			if i := strings.IndexByte(text[n:end], ' '); i >= 0 {
				cut = n + i
			}
		}
		ids := t.segment(l, text[:cut])
		if len(ids) >= limit || cut == end {
			return ids[:min(len(ids), limit)]
		}
	}
}

// segment tokenizes all of text.
func (t *tokenizer) segment(l *lattice, text string) []int32 {
	l.symbols = l.symbols[:0]
	if text != "" {
		// Go's NFKC follows the Unicode Stream-Safe Text Format: after 30
		// combining marks in a row it inserts a combining grapheme joiner,
		// U+034F, which the reference's NFKC does not. Dropping the joiners
		// the text did not have undoes that (the marks of such a run may
		// still be ordered differently, which matters only if they differ).
		hasCGJ := strings.ContainsRune(text, cgj)
		l.symbols = append(l.symbols, separator)
		for _, r := range norm.NFKC.String(text) {
			switch {
			case r == ' ':
				r = separator
			case r == cgj && !hasCGJ:
				continue
			}
			l.symbols = append(l.symbols, r)
		}
	}
	s := l.symbols
	n := len(s)
	l.best = slices.Grow(l.best[:0], n+1)[:n+1]
	l.words = slices.Grow(l.words[:0], n+1)[:n+1]
	best, words := l.best, l.words
	clear(best)
	clear(words)
	// Forward pass. The reference collects every piece ending at each
	// position and then, position by position, tries them in order of
	// where they start; trying the pieces that start at i once best[i] is
	// final, for i in order, makes the same comparisons in the same order.
	for i := range n {
		node, found := int32(0), false
		for j := i; j < n; j++ {
			child, ok := t.edges[edge(node, s[j])]
			if !ok {
				break
			}
			node = child
			if id := t.piece[node]; id >= 0 {
				found = true
				relax(best, words, j+1, t.score[node]+best[i], id)
			}
		}
		if !found {
			relax(best, words, i+1, best[i], 0) // unknown character, score 0
		}
	}
	// Walk back from the end, then keep one of each run of unknowns.
	ids := l.ids[:0]
	for i := n; i > 0; i -= int(t.units[words[i]]) {
		ids = append(ids, words[i])
	}
	kept, unknown := ids[:0], false
	for _, id := range ids {
		if !unknown || id != 0 {
			kept = append(kept, id)
		}
		unknown = id == 0
	}
	for a, b := 0, len(kept)-1; a < b; a, b = a+1, b-1 {
		kept[a], kept[b] = kept[b], kept[a]
	}
	l.ids = ids
	return kept
}

// relax offers piece id, ending at end with total score, as the best way to
// reach end, by the reference's rule: an unset (or zero) best always
// yields, and ties go to the later offer.
func relax(best []float64, words []int32, end int, score float64, id int32) {
	if best[end] == 0 || score >= best[end] {
		best[end], words[end] = score, id
	}
}
