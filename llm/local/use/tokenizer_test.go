package use

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func loadTokenizer(tb testing.TB) *tokenizer {
	tb.Helper()
	m, err := loadModel()
	if err != nil {
		tb.Fatal(err)
	}
	return m.tok
}

// tokenCase is a text and the ids the reference JavaScript tokenizer
// (@energetic-ai/embeddings 0.2.0 under Node.js) gives it, all of them,
// not clipped.
type tokenCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func tokenCases(t *testing.T) []tokenCase {
	t.Helper()
	f, err := os.Open("testdata/tokens.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []tokenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c tokenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.IDs == nil {
			c.IDs = []int32{}
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestTokenizerMatchesReference checks the ids of texts chosen for the
// tokenizer's corners: empty, spaces, punctuation with null scores (":"),
// a piece listed twice ("”5"), NFKC (ligatures, full-width digits,
// no-break space, combining accents), emoji and scripts the vocabulary
// barely knows (runs of unknowns kept as one), control characters, and
// long texts with and without spaces.
func TestTokenizerMatchesReference(t *testing.T) {
	tok := loadTokenizer(t)
	var l lattice
	for _, c := range tokenCases(t) {
		name := c.Text
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		got := slices.Clone(tok.encode(&l, c.Text, -1))
		if !slices.Equal(got, c.IDs) {
			t.Errorf("%q:\n got %v\nwant %v", name, got, c.IDs)
			continue
		}
		want := c.IDs[:min(len(c.IDs), MaxTokens)]
		if got := tok.encode(&l, c.Text, MaxTokens); !slices.Equal(got, want) {
			t.Errorf("%q clipped to %d:\n got %v\nwant %v", name, MaxTokens, got, want)
		}
	}
}

func TestTokenizerEmpty(t *testing.T) {
	var l lattice
	if ids := loadTokenizer(t).encode(&l, "", MaxTokens); len(ids) != 0 {
		t.Errorf("empty text: ids %v", ids)
	}
}

// TestTokenizerInvalidUTF8 checks that bytes that are not UTF-8 count as
// the replacement character, as they would after a JSON decoder, and so
// as the unknown piece.
func TestTokenizerInvalidUTF8(t *testing.T) {
	tok := loadTokenizer(t)
	var l lattice
	for _, s := range []string{"\xff", "abc\xfe\xffdef", "\xc3", "caf\xc3", "\xed\xa0\x80 surrogate"} {
		got := slices.Clone(tok.encode(&l, s, -1))
		want := tok.encode(&l, strings.ToValidUTF8(s, "\uFFFD"), -1)
		if !slices.Equal(got, want) || !slices.Contains(got, 0) {
			t.Errorf("%q: ids %v, want %v with an unknown", s, got, want)
		}
	}
}

// TestTokenizerPrefix checks what encode relies on to read only the start
// of a long text: clipping a text's tokens gives the tokens of the
// prefix encode segments, for texts whose separators fall everywhere.
func TestTokenizerPrefix(t *testing.T) {
	tok := loadTokenizer(t)
	var l lattice
	var b strings.Builder
	words := []string{"the", "Bulwark", "gateway", "😀", ":", "”5", "naïve", "ﬁ", "\u00a0", "\t", "日本", "x\u0301", "", "supercalifragilistic"}
	for i := range 3000 {
		b.WriteString(words[(i*7+i/13)%len(words)])
		if i%5 != 4 {
			b.WriteByte(' ')
		}
	}
	text := b.String()
	for _, n := range []int{1, 1020, 1030, 2050, 4100, 9000, len(text)} {
		s := strings.ToValidUTF8(text[:min(n, len(text))], "")
		all := slices.Clone(tok.encode(&l, s, -1))
		for _, limit := range []int{0, 1, 5, MaxTokens, 1000} {
			want := all[:min(limit, len(all))]
			if got := tok.encode(&l, s, limit); !slices.Equal(got, want) {
				t.Fatalf("%d bytes, limit %d:\n got %v\nwant %v", len(s), limit, got, want)
			}
		}
	}
}

// TestTokenizerHugeInput checks that a long text without spaces is
// segmented from its first maxScan bytes only, so that the scratch space
// stays small whatever the input's size.
func TestTokenizerHugeInput(t *testing.T) {
	tok := loadTokenizer(t)
	var l lattice
	for _, text := range []string{
		strings.Repeat("Donaudampfschifffahrt", 400_000),   // 8 MB, no space
		"word " + strings.Repeat("é😀", 1_000_000) + " end", // 6 MB, one run of unknowns
	} {
		ids := tok.encode(&l, text, MaxTokens)
		if len(ids) == 0 || len(ids) > MaxTokens {
			t.Errorf("%d tokens", len(ids))
		}
		if c := len(l.symbols); c > maxScan+1 {
			t.Errorf("segmented %d characters of a %d-byte text", c, len(text))
		}
		cut := maxScan
		for !utf8.RuneStart(text[cut]) {
			cut--
		}
		want := slices.Clone(tok.encode(&l, text[:cut], -1))
		if got := tok.encode(&l, text, MaxTokens); !slices.Equal(got, want[:min(len(want), MaxTokens)]) {
			t.Errorf("got %v, want the first tokens of the first %d bytes %v", got, cut, want)
		}
	}
}
