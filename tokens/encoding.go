package tokens

import (
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// encoding is one BPE vocabulary, loaded on first use from the files
// tiktoken-go-loader compiles in. It is safe for concurrent use.
type encoding struct {
	name  string
	split func(string) int // the pre-tokenizer (split.go)
	ranks func() (map[string]int, error)
	// loaded is set once ranks has loaded the vocabulary.
	loaded atomic.Bool
}

func newEncoding(name string, split func(string) int) *encoding {
	e := &encoding{name: name, split: split}
	e.ranks = sync.OnceValues(func() (map[string]int, error) {
		defer e.loaded.Store(true)
		return tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe(name + ".tiktoken")
	})
	return e
}

var (
	o200k  = newEncoding("o200k_base", splitO200k)
	cl100k = newEncoding("cl100k_base", splitCL100k)
)

// count returns the tokens of s: its pre-tokenizer's pieces, each
// byte-pair encoded. Special-token text such as "<|endoftext|>" counts as
// ordinary text, as OpenAI counts a user's message. If the vocabulary
// cannot load (it is compiled in, so only a broken build fails), s is
// estimated at four bytes per token.
func (e *encoding) count(s string) int {
	if s == "" {
		return 0
	}
	ranks, err := e.ranks()
	if err != nil {
		return estimate(len(s))
	}
	n := 0
	for len(s) > 0 {
		k := e.split(s)
		n += bpeCount(ranks, s[:k])
		s = s[k:]
	}
	return n
}

// estimate is the tokens of n bytes of text at four bytes per token,
// OpenAI's rule of thumb for English.
func estimate(n int) int { return (n + 3) / 4 }

// lowerBound returns a number of tokens s has at least, in any encoding
// whose pre-tokenizer never puts two runs of letters apart from a
// contraction suffix ("'s", "'ll"…), nor letters and digits, nor more
// than three digits, in one piece: cl100k_base and o200k_base. It counts
// the maximal runs of letters and combining marks not preceded by an
// apostrophe, and every started group of three in each run of digits.
func lowerBound(s string) int {
	n, digits := 0, 0
	inLetters := false
	prev := rune(0)
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		letter, digit := isLetter(r), isDigit(r)
		if letter && !inLetters && prev != '\'' {
			n++
		}
		inLetters = letter
		if digit {
			digits++
		} else if digits > 0 {
			n += (digits + 2) / 3
			digits = 0
		}
		prev = r
	}
	return n + (digits+2)/3
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.IsMark(r)
}

func isDigit(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}
