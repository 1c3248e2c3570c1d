package chunk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/rag/parse"
	"github.com/bulwark-ai/bulwark/tokens"
	"github.com/pkoukk/tiktoken-go"
)

// Chunk is one piece of a document to embed.
type Chunk struct {
	// Index is the chunk's place in the document, from 0.
	Index int
	// Text is what is embedded: the document's Markdown from one token to
	// another, after a heading-path line for a continued section.
	Text string
	// Tokens is the number of cl100k_base tokens of Text, at most the
	// strategy's max_chunk_size_tokens: for a window cut from a longer
	// text, the tokens of that text's encoding it holds (encoding the
	// window alone can differ by a token at its edges); for whole
	// sections, the count of the tokens package.
	Tokens int
	// Page is the page the chunk starts on, 0 when the document has none.
	Page int
	// Section is the heading path the chunk starts under, " > " between
	// headings; empty before the first heading.
	Section string
	// Hash is the hex SHA-256 of Text: a chunk whose hash a store already
	// holds need not be embedded again.
	Hash string

	// span is the chunk's tokens in the document's (static) or its
	// section's (structure) token stream, for tests.
	span [2]int
}

// SectionSep separates the headings of Chunk.Section.
const SectionSep = " > "

// Split cuts a document into chunks by s, which must be valid (Validate).
//
// Static (and auto, static with 800 and 400) is OpenAI's chunking: the
// document's Markdown is encoded in cl100k_base and cut into windows of
// max_chunk_size_tokens that start chunk_overlap_tokens before the end
// of the window before. A window edge that would split a character
// across two tokens (rare outside emoji and some CJK) moves back to the
// token where the character starts, so such a window can be a token
// shorter and its overlap a token longer.
//
// Structure keeps sections whole: consecutive sections under the same
// top-level heading share a chunk while they fit; a section longer than
// a chunk is split as static is, each piece after the first led by a
// line with its heading path. No chunk holds text of two top-level
// sections.
func Split(doc *parse.Document, s Strategy) ([]Chunk, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, nil
	}
	enc, err := encoder()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", Encoding, err)
	}
	sizes, structured := s.sizes()
	var out []Chunk
	if structured {
		out = structure(enc, doc, sizes)
	} else {
		out = static(enc, doc, sizes)
	}
	for i := range out {
		out[i].Index = i
		sum := sha256.Sum256([]byte(out[i].Text))
		out[i].Hash = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// place is where a block starts in the document's Markdown.
type place struct {
	at      int
	page    int
	section string
}

func places(doc *parse.Document) []place {
	ps := make([]place, 0, len(doc.Blocks))
	at := 0
	for i, b := range doc.Blocks {
		if i > 0 {
			at += 2 // "\n\n"
		}
		ps = append(ps, place{at: at, page: b.Page, section: strings.Join(b.Path, SectionSep)})
		at += len(b.Text)
	}
	return ps
}

// placeOf returns the block that holds byte i, the next block when i is
// in the blank line between two.
func placeOf(ps []place, i int, blockLen func(int) int) place {
	k := sort.Search(len(ps), func(j int) bool { return ps[j].at > i }) - 1
	if k < 0 {
		return place{}
	}
	if i >= ps[k].at+blockLen(k) && k+1 < len(ps) {
		return ps[k+1]
	}
	return ps[k]
}

func static(enc *tiktoken.Tiktoken, doc *parse.Document, z Sizes) []Chunk {
	text := doc.Markdown()
	offs := offsets(enc, text)
	ps := places(doc)
	blockLen := func(k int) int { return len(doc.Blocks[k].Text) }
	var out []Chunk
	for _, w := range windows(text, offs, z) {
		c := Chunk{Text: text[offs[w[0]]:offs[w[1]]], Tokens: w[1] - w[0], span: w}
		first := offs[w[0]]
		for first < offs[w[1]] && space(text[first]) {
			first++
		}
		p := placeOf(ps, first, blockLen)
		c.Page, c.Section = p.page, p.section
		if strings.TrimSpace(c.Text) != "" {
			out = append(out, c)
		}
	}
	return out
}

// windows returns the token ranges [start, end) of the chunks of a text
// of len(offs)-1 tokens at offs: max tokens each, the next starting
// overlap tokens before the end, both edges on rune boundaries.
func windows(text string, offs []int, z Sizes) [][2]int {
	n := len(offs) - 1
	onRune := func(i int) bool { return i <= 0 || i >= n || utf8.RuneStart(text[offs[i]]) }
	var out [][2]int
	for start := 0; start < n; {
		end := min(start+z.MaxChunkSizeTokens, n)
		for end > start+1 && !onRune(end) {
			end--
		}
		out = append(out, [2]int{start, end})
		if end == n {
			break
		}
		next := end - z.ChunkOverlapTokens
		for next > start && !onRune(next) {
			next--
		}
		if next <= start {
			next = end
		}
		start = next
	}
	return out
}

func structure(enc *tiktoken.Tiktoken, doc *parse.Document, z Sizes) []Chunk {
	counter := tokens.For("text-embedding-3-small")
	var out []Chunk
	var cur *Chunk
	top := ""
	flush := func() {
		if cur != nil {
			cur.Tokens = counter.Text(cur.Text)
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, sec := range doc.Sections() {
		path := strings.Join(sec.Path, SectionSep)
		t := ""
		if len(sec.Path) > 0 {
			t = sec.Path[0]
		}
		if cur != nil && t == top && counter.Text(cur.Text+"\n\n"+sec.Text) <= z.MaxChunkSizeTokens {
			cur.Text += "\n\n" + sec.Text
			continue
		}
		flush()
		top = t
		if counter.Text(sec.Text) <= z.MaxChunkSizeTokens {
			cur = &Chunk{Text: sec.Text, Page: sec.Page, Section: path}
			continue
		}
		out = append(out, long(enc, counter, sec, path, z)...)
	}
	flush()
	return out
}

// long splits a section longer than a chunk into windows; each after the
// first starts with the section's heading path, whose tokens come out of
// the window.
func long(enc *tiktoken.Tiktoken, counter *tokens.Counter, sec parse.Section, path string, z Sizes) []Chunk {
	lead := ""
	if path != "" {
		lead = path + " (continued)\n\n"
	}
	head := counter.Text(lead)
	offs := offsets(enc, sec.Text)
	var out []Chunk
	ws := windows(sec.Text, offs, z)
	// The first window is whole; the others make room for the lead.
	if head > 0 && len(ws) > 1 && head < z.MaxChunkSizeTokens-z.ChunkOverlapTokens {
		base := ws[0][1] - z.ChunkOverlapTokens
		for base > 0 && !utf8.RuneStart(sec.Text[offs[base]]) {
			base--
		}
		rest := windows(sec.Text, offs[base:], Sizes{
			MaxChunkSizeTokens: z.MaxChunkSizeTokens - head,
			ChunkOverlapTokens: z.ChunkOverlapTokens,
		})
		ws = ws[:1]
		for _, w := range rest {
			ws = append(ws, [2]int{w[0] + base, w[1] + base})
		}
	} else {
		lead = ""
	}
	for i, w := range ws {
		text := sec.Text[offs[w[0]]:offs[w[1]]]
		if strings.TrimSpace(text) == "" {
			continue
		}
		n := w[1] - w[0]
		if i > 0 && lead != "" {
			text, n = lead+text, n+head
		}
		out = append(out, Chunk{Text: text, Tokens: n, Page: sec.Page, Section: path, span: w})
	}
	return out
}
