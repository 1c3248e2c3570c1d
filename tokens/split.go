package tokens

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizers of cl100k_base and o200k_base, written out from
// their regular expressions (tiktoken's pat_str) so that splitting text
// allocates nothing and never backtracks more than one rune. Each split
// function returns the length in bytes of the first piece of a non-empty
// s: what the expression's leftmost match at the start of s would be,
// with its alternatives tried in order and each quantifier greedy.
// Character classes are those of the expressions: \p{L}, \p{N}, \s (Go's
// unicode.IsSpace, as the regexp2 engine that tiktoken-go uses), and for
// o200k_base the "upper" [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and "lower"
// [\p{Ll}\p{Lm}\p{Lo}\p{M}] classes. TestSplitMatchesTheRegexp and
// FuzzCount check them against tiktoken-go.

// Character class bits.
const (
	cLetter = 1 << iota // \p{L}
	cNumber             // \p{N}
	cSpace              // \s
	cUpper              // o200k_base's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	cLower              // o200k_base's [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := range rune(utf8.RuneSelf) {
		t[r] = classOf(r)
	}
	return t
}()

func classOf(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= cLetter
	}
	if unicode.IsNumber(r) {
		c |= cNumber
	}
	if unicode.IsSpace(r) {
		c |= cSpace
	}
	if unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.M) {
		c |= cUpper
	}
	if unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo, unicode.M) {
		c |= cLower
	}
	return c
}

// at returns the rune at s[i], its size and its class; s[i] must exist.
func at(s string, i int) (rune, int, uint8) {
	if b := s[i]; b < utf8.RuneSelf {
		return rune(b), 1, asciiClass[b]
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, classOf(r)
}

// run returns the end of the run of runes of class c from i.
func run(s string, i int, c uint8) int {
	for i < len(s) {
		_, n, k := at(s, i)
		if k&c == 0 {
			break
		}
		i += n
	}
	return i
}

// contraction returns the length of the (?i:'s|'t|'re|'ve|'m|'ll|'d) at
// the start of s, zero if there is none.
func contraction(s string) int {
	if len(s) < 2 || s[0] != '\'' {
		return 0
	}
	switch s[1] | 0x20 { // ASCII lower case; no other rune folds to these
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if len(s) > 2 && s[2]|0x20 == 'e' {
			return 3
		}
	case 'l':
		if len(s) > 2 && s[2]|0x20 == 'l' {
			return 3
		}
	}
	return 0
}

// prefixable reports whether a rune of class c, r, may open a word as
// [^\r\n\p{L}\p{N}].
func prefixable(r rune, c uint8) bool {
	return r != '\r' && r != '\n' && c&(cLetter|cNumber) == 0
}

// splitCL100k is cl100k_base's pre-tokenizer:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitCL100k(s string) int {
	if k := contraction(s); k > 0 {
		return k
	}
	r, n, c := at(s, 0)
	if c&cLetter != 0 {
		return run(s, n, cLetter)
	}
	if prefixable(r, c) && n < len(s) {
		if _, n2, c2 := at(s, n); c2&cLetter != 0 {
			return run(s, n+n2, cLetter)
		}
	}
	return splitRest(s, r, n, c, false)
}

// splitO200k is o200k_base's pre-tokenizer:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitO200k(s string) int {
	r, n, c := at(s, 0)
	prefix := prefixable(r, c) && n < len(s)
	if prefix {
		if k := lowerWord(s, n); k > 0 {
			return k
		}
	}
	if k := lowerWord(s, 0); k > 0 {
		return k
	}
	if prefix {
		if k := upperWord(s, n); k > 0 {
			return k
		}
	}
	if k := upperWord(s, 0); k > 0 {
		return k
	}
	return splitRest(s, r, n, c, true)
}

// lowerWord matches upper*lower+contraction? from i and returns its end,
// zero if it does not match. upper* gives back runes until lower+ can
// match: lower+ starts after the whole upper run if a lower rune follows
// it, else at the run's last rune that is also lower (Lm, Lo, M).
func lowerWord(s string, i int) int {
	j, lastLower := i, 0
	for j < len(s) {
		_, n, c := at(s, j)
		if c&cUpper == 0 {
			break
		}
		j += n
		if c&cLower != 0 {
			lastLower = j
		}
	}
	end := lastLower
	if j < len(s) {
		if _, n, c := at(s, j); c&cLower != 0 {
			end = run(s, j+n, cLower)
		}
	}
	if end == 0 {
		return 0
	}
	return end + contraction(s[end:])
}

// upperWord matches upper+lower*contraction? from i and returns its end,
// zero if it does not match.
func upperWord(s string, i int) int {
	j := run(s, i, cUpper)
	if j == i {
		return 0
	}
	end := run(s, j, cLower)
	return end + contraction(s[end:])
}

// splitRest is the alternatives both pre-tokenizers share, for a first
// rune r (of size n and class c) that opens no word:
//
//	\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with [\r\n/]* after punctuation for o200k_base.
func splitRest(s string, r rune, n int, c uint8, o200k bool) int {
	const other = cLetter | cNumber | cSpace // [^\s\p{L}\p{N}] is none of these
	if c&cNumber != 0 {
		i := n
		for range 2 {
			if i == len(s) {
				break
			}
			_, n2, c2 := at(s, i)
			if c2&cNumber == 0 {
				break
			}
			i += n2
		}
		return i
	}
	start := -1
	if c&other == 0 {
		start = 0
	} else if r == ' ' && n < len(s) {
		if _, _, c2 := at(s, 1); c2&other == 0 {
			start = 1
		}
	}
	if start >= 0 {
		i := start
		for i < len(s) {
			_, n2, c2 := at(s, i)
			if c2&other != 0 {
				break
			}
			i += n2
		}
		for i < len(s) && (s[i] == '\r' || s[i] == '\n' || o200k && s[i] == '/') {
			i++
		}
		return i
	}
	// r is white space: \s*[\r\n]+ ends after the run's last \r or \n.
	end, lastNewline, lastRune := 0, -1, 0
	for end < len(s) {
		r2, n2, c2 := at(s, end)
		if c2&cSpace == 0 {
			break
		}
		if r2 == '\r' || r2 == '\n' {
			lastNewline = end
		}
		lastRune = end
		end += n2
	}
	switch {
	case lastNewline >= 0:
		return lastNewline + 1
	case end == len(s): // \s+(?!\S) at the end of the text
		return end
	case lastRune > 0: // \s+(?!\S) leaves the last space to the next piece
		return lastRune
	}
	return end // \s+
}
