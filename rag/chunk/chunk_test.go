package chunk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/rag/parse"
	"github.com/bulwark-ai/bulwark/tokens"
)

func staticOf(max, overlap int) Strategy {
	return Strategy{Type: Static, Static: &Sizes{MaxChunkSizeTokens: max, ChunkOverlapTokens: overlap}}
}

func structureOf(max, overlap int) Strategy {
	return Strategy{Type: Structure, Structure: &Sizes{MaxChunkSizeTokens: max, ChunkOverlapTokens: overlap}}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s      Strategy
		fields []string
	}{
		{Strategy{}, nil},
		{Strategy{Type: Auto}, nil},
		{staticOf(800, 400), nil},
		{staticOf(100, 0), nil},
		{staticOf(4096, 2048), nil},
		{structureOf(500, 50), nil},
		{staticOf(99, 0), []string{"chunking_strategy.static.max_chunk_size_tokens"}},
		{staticOf(4097, 10), []string{"chunking_strategy.static.max_chunk_size_tokens"}},
		{staticOf(800, 401), []string{"chunking_strategy.static.chunk_overlap_tokens"}},
		{staticOf(800, -1), []string{"chunking_strategy.static.chunk_overlap_tokens"}},
		{staticOf(50, 40), []string{"chunking_strategy.static.max_chunk_size_tokens", "chunking_strategy.static.chunk_overlap_tokens"}},
		{Strategy{Type: Static}, []string{"chunking_strategy.static"}},
		{Strategy{Type: "other"}, []string{"chunking_strategy.type"}},
		{Strategy{Type: Auto, Static: &Sizes{}}, []string{"chunking_strategy.static"}},
	} {
		err := tc.s.Validate()
		var got []string
		for _, e := range unjoin(err) {
			var fe *FieldError
			if !errors.As(e, &fe) || !errors.Is(e, ErrInvalid) || !strings.HasPrefix(fe.Error(), fe.Field+": ") {
				t.Errorf("%+v: %v is not a *FieldError", tc.s, e)
				continue
			}
			got = append(got, fe.Field)
		}
		if !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%+v: fields %q, want %q (%v)", tc.s, got, tc.fields, err)
		}
	}
	if _, err := Split(&parse.Document{}, staticOf(10, 0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Split with a bad strategy: %v", err)
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// words returns n pseudo-random words from a small vocabulary, with some
// punctuation, digits and non-ASCII letters.
func words(r *rand.Rand, n int) string {
	vocab := []string{"the", "vector", "store", "chunk", "über", "naïve", "token", "2024", "of", "a", "retrieval,", "embedding.", "Bulwark", "gateway", "日本語", "—", "(see", "above)"}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocab[r.IntN(len(vocab))])
	}
	return b.String()
}

// pagedDoc is a document of pages, each a heading-less paragraph.
func pagedDoc(r *rand.Rand, pages, wordsPerPage int) *parse.Document {
	doc := &parse.Document{Format: parse.PDF, Pages: pages}
	for p := 1; p <= pages; p++ {
		doc.Blocks = append(doc.Blocks, parse.Block{Text: words(r, wordsPerPage), Page: p})
	}
	return doc
}

// checkStatic holds static chunks to OpenAI's definition: windows of at
// most max tokens, each starting overlap tokens before the end of the one
// before, covering every token, with their page, section and hash.
func checkStatic(t *testing.T, doc *parse.Document, s Strategy) []Chunk {
	t.Helper()
	chunks, err := Split(doc, s)
	if err != nil {
		t.Fatal(err)
	}
	z, _ := s.sizes()
	enc, _ := encoder()
	text := doc.Markdown()
	offs := offsets(enc, text)
	n := len(offs) - 1
	if len(chunks) == 0 {
		if strings.TrimSpace(text) != "" {
			t.Fatal("no chunks for a document with text")
		}
		return nil
	}
	// Only white space may be left out, as a chunk of its own.
	if strings.TrimSpace(text[:offs[chunks[0].span[0]]]) != "" || strings.TrimSpace(text[offs[chunks[len(chunks)-1].span[1]]:]) != "" {
		t.Errorf("chunks cover tokens %d to %d of %d", chunks[0].span[0], chunks[len(chunks)-1].span[1], n)
	}
	ps := places(doc)
	for i, c := range chunks {
		if c.Index != i || c.Tokens != c.span[1]-c.span[0] || c.Tokens > z.MaxChunkSizeTokens || c.Tokens == 0 {
			t.Fatalf("chunk %d: index %d, tokens %d, span %v", i, c.Index, c.Tokens, c.span)
		}
		if c.Text != text[offs[c.span[0]]:offs[c.span[1]]] || strings.TrimSpace(c.Text) == "" {
			t.Fatalf("chunk %d text %q is not its tokens", i, c.Text)
		}
		if sum := sha256.Sum256([]byte(c.Text)); c.Hash != hex.EncodeToString(sum[:]) {
			t.Fatalf("chunk %d hash", i)
		}
		first := offs[c.span[0]] + len(c.Text) - len(strings.TrimLeft(c.Text, " \n"))
		p := placeOf(ps, first, func(k int) int { return len(doc.Blocks[k].Text) })
		if c.Page != p.page || c.Section != p.section {
			t.Fatalf("chunk %d: page %d section %q, want %d %q", i, c.Page, c.Section, p.page, p.section)
		}
		if i == 0 {
			continue
		}
		prev := chunks[i-1]
		if c.span[0] <= prev.span[0] || c.span[0] > prev.span[1] && strings.TrimSpace(text[offs[prev.span[1]]:offs[c.span[0]]]) != "" {
			t.Fatalf("chunk %d starts at %d after a chunk %v", i, c.span[0], prev.span)
		}
		ascii := strings.IndexFunc(text, func(r rune) bool { return r > 0x7F }) < 0
		if ascii && prev.span[1]-c.span[0] != z.ChunkOverlapTokens {
			t.Fatalf("chunk %d overlaps %d tokens, want %d", i, prev.span[1]-c.span[0], z.ChunkOverlapTokens)
		}
		if ascii && i < len(chunks)-1 && c.Tokens != z.MaxChunkSizeTokens {
			t.Fatalf("chunk %d has %d tokens, want %d", i, c.Tokens, z.MaxChunkSizeTokens)
		}
	}
	return chunks
}

func TestStaticExactTokens(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// ASCII text: overlap and sizes are exact.
	ascii := &parse.Document{Blocks: []parse.Block{{Text: strings.Repeat("The quick brown fox jumps over the lazy dog. ", 400)}}}
	for _, s := range []Strategy{staticOf(100, 0), staticOf(100, 50), staticOf(333, 111), {}, staticOf(4096, 2048)} {
		checkStatic(t, ascii, s)
	}
	// Mixed scripts, pages: pages propagate and edges stay on runes.
	chunks := checkStatic(t, pagedDoc(r, 5, 400), staticOf(200, 60))
	if chunks[0].Page != 1 || chunks[len(chunks)-1].Page != 5 {
		t.Errorf("pages %d..%d", chunks[0].Page, chunks[len(chunks)-1].Page)
	}
	// A short document is one chunk.
	short := &parse.Document{Blocks: []parse.Block{{Kind: parse.Heading, Text: "# Title", Path: []string{"Title"}, Level: 1}, {Text: "body", Path: []string{"Title"}}}}
	chunks = checkStatic(t, short, Strategy{})
	if len(chunks) != 1 || chunks[0].Text != "# Title\n\nbody" || chunks[0].Section != "Title" {
		t.Errorf("short: %+v", chunks)
	}
}

// TestOffsetsMatchTiktoken checks that encoding in segments gives the
// tokens of encoding the whole text.
func TestOffsetsMatchTiktoken(t *testing.T) {
	enc, err := encoder()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, text := range []string{words(r, 3000), realText(t), "a  b\n\n  c's   don't 123456 x\t\ty", strings.Repeat("x", 9000) + " tail"} {
		offs := offsets(enc, text)
		ids := enc.EncodeOrdinary(text)
		if text != strings.Repeat("x", 9000)+" tail" && len(offs)-1 != len(ids) {
			t.Errorf("%d tokens in segments, %d whole (%.40q)", len(offs)-1, len(ids), text)
		}
		if offs[len(offs)-1] != len(text) {
			t.Errorf("offsets end at %d of %d", offs[len(offs)-1], len(text))
		}
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				t.Fatalf("offsets not increasing at %d", i)
			}
		}
	}
}

// realText is the Markdown of a real document, or skips.
func realText(t testing.TB) string {
	return realDoc(t).Markdown()
}

func realDoc(t testing.TB) *parse.Document {
	const path = "../../../shared/data/docs/example-with-scripts.html"
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("%s is absent: the shared documents are not on this machine", filepath.Base(path))
	}
	defer f.Close()
	doc, err := parse.Parse(context.Background(), path, "", f, parse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestStructure(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var blocks []parse.Block
	add := func(k parse.Kind, text string, level int, path ...string) {
		blocks = append(blocks, parse.Block{Kind: k, Text: text, Level: level, Path: path})
	}
	add(parse.Paragraph, "Preface before any heading.", 0)
	add(parse.Heading, "# Alpha", 1, "Alpha")
	add(parse.Paragraph, "Alpha intro.", 0, "Alpha")
	add(parse.Heading, "## Small", 2, "Alpha", "Small")
	add(parse.Paragraph, "Small text.", 0, "Alpha", "Small")
	add(parse.Heading, "## Long", 2, "Alpha", "Long")
	add(parse.Paragraph, words(r, 1500), 0, "Alpha", "Long")
	add(parse.Heading, "# Beta", 1, "Beta")
	add(parse.Paragraph, "Beta text.", 0, "Beta")
	doc := &parse.Document{Blocks: blocks}
	chunks, err := Split(doc, structureOf(200, 40))
	if err != nil {
		t.Fatal(err)
	}
	counter := tokens.For("text-embedding-3-small")
	var sections []string
	for i, c := range chunks {
		sections = append(sections, c.Section)
		if d := c.Tokens - counter.Text(c.Text); d < -1 || d > 1 || c.Tokens > 200 || c.Index != i || strings.TrimSpace(c.Text) == "" {
			t.Errorf("chunk %d: %d tokens (%d counted): %.60q", i, c.Tokens, counter.Text(c.Text), c.Text)
		}
		if strings.Contains(c.Text, "# Alpha") && strings.Contains(c.Text, "# Beta") {
			t.Errorf("chunk %d crosses a top-level section", i)
		}
		if c.Section == "Alpha > Long" && !strings.HasPrefix(c.Text, "## Long") && !strings.HasPrefix(c.Text, "Alpha > Long (continued)\n\n") {
			t.Errorf("chunk %d of a long section has no heading: %.60q", i, c.Text)
		}
	}
	if sections[0] != "" || sections[1] != "Alpha" || sections[len(sections)-1] != "Beta" {
		t.Errorf("sections %q", sections)
	}
	if !strings.Contains(chunks[1].Text, "# Alpha\n\nAlpha intro.\n\n## Small\n\nSmall text.") {
		t.Errorf("small sections of one top-level section are not packed: %q", chunks[1].Text)
	}
	// Every word of the document is in some chunk, in order.
	all := strings.Join(texts(chunks), "\n")
	for _, b := range blocks {
		for w := range strings.FieldsSeq(b.Text) {
			if !strings.Contains(all, w) {
				t.Fatalf("%q is in no chunk", w)
			}
		}
	}
}

func texts(cs []Chunk) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Text
	}
	return out
}

func TestRealDocument(t *testing.T) {
	doc := realDoc(t)
	checkStatic(t, doc, Strategy{})
	checkStatic(t, doc, staticOf(256, 64))
	chunks, err := Split(doc, structureOf(300, 50))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, c := range chunks {
		sections[c.Section] = true
		if c.Tokens > 300 {
			t.Errorf("chunk %d has %d tokens", c.Index, c.Tokens)
		}
	}
	if !sections["Russian Offensive Campaign Assessment, December 13"] {
		t.Errorf("sections %v", sections)
	}
}

// TestReingestion: changing one paragraph changes the hashes of the
// chunks that hold it and no others.
func TestReingestion(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	doc := pagedDoc(r, 6, 300)
	before, _ := Split(doc, structureOf(400, 0))
	doc.Blocks[4].Text = "changed " + doc.Blocks[4].Text
	after, _ := Split(doc, structureOf(400, 0))
	changed := 0
	for i := range before {
		if before[i].Hash != after[i].Hash {
			changed++
			if after[i].Page != 5 {
				t.Errorf("chunk %d of page %d changed", i, after[i].Page)
			}
		}
	}
	if changed == 0 || changed == len(before) {
		t.Errorf("%d of %d chunks changed", changed, len(before))
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("# A\n\nsome text here", uint16(100), uint16(30), false)
	f.Add(strings.Repeat("日本語 😀 ", 300), uint16(120), uint16(60), true)
	f.Add("x", uint16(4096), uint16(0), false)
	f.Fuzz(func(t *testing.T, text string, max, overlap uint16, structure bool) {
		m := MinChunkTokens + int(max)%(MaxChunkTokens-MinChunkTokens+1)
		o := int(overlap) % (m/2 + 1)
		var doc parse.Document
		for i, p := range strings.Split(text, "\n\n") {
			if strings.TrimSpace(p) == "" {
				continue
			}
			b := parse.Block{Text: p, Page: i%3 + 1}
			if strings.HasPrefix(p, "#") {
				b.Kind, b.Level, b.Path = parse.Heading, 1, []string{fmt.Sprint(i)}
			}
			doc.Blocks = append(doc.Blocks, b)
		}
		if !structure {
			checkStatic(t, &doc, staticOf(m, o))
			return
		}
		chunks, err := Split(&doc, structureOf(m, o))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			if strings.TrimSpace(c.Text) == "" || c.Tokens > m || c.Tokens <= 0 {
				t.Fatalf("chunk %d of %d tokens (max %d): %q", c.Index, c.Tokens, m, c.Text)
			}
		}
	})
}

func BenchmarkChunkStatic(b *testing.B) {
	doc := realDoc(b)
	b.SetBytes(int64(len(doc.Markdown())))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(doc, Strategy{}); err != nil {
			b.Fatal(err)
		}
	}
}
