package redact

import (
	"regexp"
	"slices"
	"strings"
)

// Kind is what a match is.
type Kind string

// The kinds Find detects, in the order they win over each other when two
// matches overlap.
const (
	Secret Kind = "secret"  // a bearer token or an API key
	AWSKey Kind = "aws_key" // an AWS access key id
	Email  Kind = "email"
	IBAN   Kind = "iban"
	Card   Kind = "card" // a payment card number that passes the Luhn check
	Phone  Kind = "phone"
)

// Match is one finding: s[Start:End] is of Kind.
type Match struct {
	Kind       Kind
	Start, End int
}

var (
	// bearerRe finds the token after "Bearer" (submatch 1).
	bearerRe = regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)`)
	// apiKeyRe finds secrets by their vendor prefix: OpenAI-style and
	// Bulwark keys (sk-, rk-, bk-, sk_live_…), GitHub and Slack tokens.
	apiKeyRe = regexp.MustCompile(`\b(?:(?:sk|rk|bk)[-_][A-Za-z0-9_\-]{16,}|ghp_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,})`)
	awsRe    = regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`)
	emailRe  = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	// ibanRe finds IBAN candidates, contiguous or in space-separated
	// groups; the checksum decides.
	ibanRe = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4}){3,9}`)
)

// maxPasses bounds String's repeated masking. A mask holds no digit and
// no character any pattern needs around it, so a second pass finds only
// what an overlap hid in the first; the bound is a guard.
const maxPasses = 8

// Find returns what s holds of every Kind, in order, without overlaps:
// where two findings overlap, the one that starts first wins, then the
// longer, then the kind listed first above.
func Find(s string) []Match {
	var all []Match
	if hasFold(s, "bearer") {
		for _, m := range bearerRe.FindAllStringSubmatchIndex(s, -1) {
			all = append(all, Match{Secret, m[2], m[3]})
		}
	}
	for _, m := range apiKeyRe.FindAllStringIndex(s, -1) {
		all = append(all, Match{Secret, m[0], m[1]})
	}
	for _, m := range awsRe.FindAllStringIndex(s, -1) {
		all = append(all, Match{AWSKey, m[0], m[1]})
	}
	if strings.IndexByte(s, '@') >= 0 {
		for _, m := range emailRe.FindAllStringIndex(s, -1) {
			all = append(all, Match{Email, m[0], m[1]})
		}
	}
	for _, m := range ibanRe.FindAllStringIndex(s, -1) {
		if end, ok := iban(s, m[0], m[1]); ok {
			all = append(all, Match{IBAN, m[0], end})
		}
	}
	all = numbers(s, all)
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b Match) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		if a.End != b.End {
			return b.End - a.End
		}
		return rank(a.Kind) - rank(b.Kind)
	})
	out := all[:0]
	end := 0
	for _, m := range all {
		if m.Start >= end {
			out = append(out, m)
			end = m.End
		}
	}
	return out
}

// String returns s with every finding replaced by its kind in brackets:
// "mail me at [email]".
func String(s string) string {
	for range maxPasses {
		ms := Find(s)
		if len(ms) == 0 {
			return s
		}
		s = mask(s, ms)
	}
	return s
}

func mask(s string, ms []Match) string {
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m.Start])
		b.WriteByte('[')
		b.WriteString(string(m.Kind))
		b.WriteByte(']')
		last = m.End
	}
	b.WriteString(s[last:])
	return b.String()
}

func rank(k Kind) int {
	switch k {
	case Secret:
		return 0
	case AWSKey:
		return 1
	case Email:
		return 2
	case IBAN:
		return 3
	case Card:
		return 4
	}
	return 5
}

// hasFold reports whether s contains the lowercase ASCII word w in any
// case.
func hasFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// iban checks the candidate s[start:end] and its shorter prefixes (by
// space-separated group) and returns the end of the longest that is an
// IBAN: 15 to 34 characters that pass the mod-97 check and are not
// followed by a letter or digit.
func iban(s string, start, end int) (int, bool) {
	for end > start {
		if end == len(s) || !isAlnum(s[end]) {
			if validIBAN(s[start:end]) {
				return end, true
			}
		}
		// Drop the last group: back to the space before it.
		i := strings.LastIndexByte(s[start:end], ' ')
		if i < 0 {
			break
		}
		end = start + i
	}
	return 0, false
}

func validIBAN(s string) bool {
	n, rem := 0, 0
	// The first four characters move to the end; letters count as 10–35.
	add := func(c byte) {
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		default:
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	var head [4]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			continue
		}
		if n < 4 {
			head[n] = c
		} else {
			add(c)
		}
		n++
	}
	if n < 15 || n > 34 {
		return false
	}
	for _, c := range head {
		add(c)
	}
	return rem == 1
}

// group is a run of digits in s.
type group struct{ start, end int }

// numbers adds the card and phone numbers of s to ms. Both are chains of
// digit groups: a card's groups are separated by one space or dash, a
// phone number's by up to two of " -.()", optionally after a "+".
func numbers(s string, ms []Match) []Match {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= '0' && r <= '9' }) {
		return ms
	}
	ms = cards(s, ms)
	return phones(s, ms)
}

// chains splits the digits of s into chains of groups whose separators
// are runs of at most maxSep characters for which sep is true.
func chains(s string, sep func(byte) bool, maxSep int) [][]group {
	var out [][]group
	var cur []group
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		g := group{i, j}
		if n := len(cur); n > 0 {
			gap := s[cur[n-1].end:i]
			ok := len(gap) <= maxSep
			for k := 0; ok && k < len(gap); k++ {
				ok = sep(gap[k])
			}
			if !ok {
				out = append(out, cur)
				cur = nil
			}
		}
		cur = append(cur, g)
		i = j
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func digits(s string, gs []group) int {
	n := 0
	for _, g := range gs {
		n += g.end - g.start
	}
	return n
}

// cards adds the payment card numbers: 13 to 19 digits in groups that pass
// the Luhn check, preferring the longest from the earliest group.
func cards(s string, ms []Match) []Match {
	for _, ch := range chains(s, func(c byte) bool { return c == ' ' || c == '-' }, 1) {
		for i := 0; i < len(ch); {
			found := false
			for j := len(ch); j > i; j-- {
				if n := digits(s, ch[i:j]); n >= 13 && n <= 19 && luhn(s, ch[i:j]) {
					ms = append(ms, Match{Card, ch[i].start, ch[j-1].end})
					i, found = j, true
					break
				}
			}
			if !found {
				i++
			}
		}
	}
	return ms
}

func luhn(s string, gs []group) bool {
	sum, double := 0, false
	for k := len(gs) - 1; k >= 0; k-- {
		for i := gs[k].end - 1; i >= gs[k].start; i-- {
			d := int(s[i] - '0')
			if double {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

// phones adds the phone numbers: chains of 10 to 15 digits, or 8 to 15
// when written with a leading "+" or an area code in parentheses. Chains
// that read as a decimal number or an IPv4 address are left alone.
func phones(s string, ms []Match) []Match {
	sep := func(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' }
	for _, ch := range chains(s, sep, 2) {
		n := digits(s, ch)
		if n < 8 || n > 15 {
			continue
		}
		start, end := ch[0].start, ch[len(ch)-1].end
		if start > 0 && (isAlnum(s[start-1]) || s[start-1] == '.') || end < len(s) && isAlnum(s[end]) {
			continue // part of a word, a version or a longer number
		}
		styled := false
		switch {
		case start > 0 && s[start-1] == '+':
			start--
			styled = true
		case start > 0 && s[start-1] == '(':
			start--
			styled = true
		}
		if strings.IndexByte(s[start:end], '(') >= 0 {
			styled = true
		}
		if n < 10 && !styled || dotted(s, ch) {
			continue
		}
		ms = append(ms, Match{Phone, start, end})
	}
	return ms
}

// dotted reports whether a chain is a decimal number (one "." between two
// groups) or an IPv4 address (four groups of at most three digits joined
// by ".").
func dotted(s string, ch []group) bool {
	for k := 1; k < len(ch); k++ {
		if s[ch[k-1].end:ch[k].start] != "." {
			return false
		}
	}
	if len(ch) == 2 {
		return true
	}
	if len(ch) != 4 {
		return false
	}
	for _, g := range ch {
		if g.end-g.start > 3 {
			return false
		}
	}
	return true
}
