package guard

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/redact"
)

// PII finds personal data and secrets with package redact and masks each
// as its kind in brackets ("[email]").
type PII struct{}

// Name implements Check.
func (PII) Name() string { return "pii" }

// Scan implements Check: the reason lists the kinds found.
func (PII) Scan(ts []Text) string {
	var kinds []string
	for _, t := range ts {
		for _, m := range redact.Find(t.Content) {
			if k := string(m.Kind); !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	slices.Sort(kinds)
	return "personal data found: " + strings.Join(kinds, ", ")
}

// Mask implements Masker.
func (PII) Mask(s string) string { return redact.String(s) }

// DeniedTerms finds words and phrases, whole (not inside a longer word)
// and in any case, and masks each as "[denied]".
type DeniedTerms struct {
	re      *regexp.Regexp
	n       int
	longest int
}

// NewDeniedTerms returns the check for terms. Spaces in a term match any
// run of white space.
func NewDeniedTerms(terms []string) *DeniedTerms {
	alts := make([]string, 0, len(terms))
	for _, t := range terms {
		f := strings.Fields(t)
		for i := range f {
			f[i] = regexp.QuoteMeta(f[i])
		}
		if len(f) > 0 {
			alts = append(alts, strings.Join(f, `\s+`))
		}
	}
	// Longer terms first, so that a phrase wins over a term it contains.
	slices.SortStableFunc(alts, func(a, b string) int { return len(b) - len(a) })
	re := regexp.MustCompile(`(?i)(?:` + strings.Join(alts, "|") + `)`)
	longest := 0
	for _, t := range terms {
		longest = max(longest, len(t))
	}
	return &DeniedTerms{re: re, n: len(alts), longest: longest}
}

// Longest is the length in bytes of the longest term as configured (a
// match may be longer where its spaces are runs of white space).
func (d *DeniedTerms) Longest() int { return d.longest }

// Name implements Check.
func (*DeniedTerms) Name() string { return "denied_terms" }

// Scan implements Check: the reason counts the terms found, without
// naming them.
func (d *DeniedTerms) Scan(ts []Text) string {
	n := 0
	for _, t := range ts {
		n += len(d.find(t.Content))
	}
	if n == 0 {
		return ""
	}
	if n == 1 {
		return "a denied term was found"
	}
	return fmt.Sprintf("%d denied terms were found", n)
}

// find returns the spans of the terms in s.
func (d *DeniedTerms) find(s string) [][2]int {
	var out [][2]int
	for at := 0; at < len(s); {
		m := d.re.FindStringIndex(s[at:])
		if m == nil {
			break
		}
		start, end := at+m[0], at+m[1]
		if !wordEdge(s, start, end) {
			// Inside a longer word (a non-ASCII letter on one side):
			// look again after the term's first rune.
			_, size := utf8.DecodeRuneInString(s[start:])
			at = start + size
			continue
		}
		out = append(out, [2]int{start, end})
		at = end
	}
	return out
}

// wordEdge reports whether s[start:end] is not inside a longer word.
func wordEdge(s string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:start])
		if isWordRune(r) && isWordRune(firstRune(s[start:end])) {
			return false
		}
	}
	if end < len(s) {
		r, _ := utf8.DecodeRuneInString(s[end:])
		l, _ := utf8.DecodeLastRuneInString(s[start:end])
		if isWordRune(r) && isWordRune(l) {
			return false
		}
	}
	return true
}

func firstRune(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }

func isWordRune(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0x80 && r != utf8.RuneError && !isSpaceOrPunct(r)
}

func isSpaceOrPunct(r rune) bool {
	return strings.ContainsRune("\u00a0\u2000\u2001\u2002\u2003\u2009\u200b\u3000\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u00ab\u00bb\u3001\u3002", r)
}

// Mask implements Masker.
func (d *DeniedTerms) Mask(s string) string {
	spans := d.find(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString("[denied]")
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// MaxChars bounds the characters (runes) of all the texts together.
type MaxChars int

// Name implements Check.
func (MaxChars) Name() string { return "max_chars" }

// Scan implements Check.
func (m MaxChars) Scan(ts []Text) string {
	n := 0
	for _, t := range ts {
		n += utf8.RuneCountInString(t.Content)
	}
	if n <= int(m) {
		return ""
	}
	return fmt.Sprintf("%d characters, more than the %d allowed", n, int(m))
}
