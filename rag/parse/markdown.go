package parse

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

var markdownParser = goldmark.New(goldmark.WithExtensions(extension.Table)).Parser()

// parseMarkdown keeps a Markdown file's own text and splits it at its
// headings, which goldmark finds (so a "#" inside a code block is not a
// heading). The text between two headings is one block, as written.
func parseMarkdown(s string) []Block {
	src := []byte(s)
	doc := markdownParser.Parse(text.NewReader(src))
	var b builder
	pos := 0
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		h, ok := n.(*ast.Heading)
		if !ok || h.Lines().Len() == 0 {
			continue
		}
		seg := h.Lines().At(0)
		start := bytes.LastIndexByte(src[:seg.Start], '\n') + 1
		end := lineEnd(src, h.Lines().At(h.Lines().Len()-1).Stop)
		if !atx(src[start:]) { // setext: the underline follows
			end = lineEnd(src, min(end+1, len(src)))
		}
		body(&b, string(src[pos:start]))
		var title strings.Builder
		for i := range h.Lines().Len() {
			l := h.Lines().At(i)
			title.Write(l.Value(src))
			title.WriteByte(' ')
		}
		b.heading(h.Level, strings.TrimRight(strings.TrimSpace(title.String()), "#"))
		pos = end
	}
	body(&b, string(src[pos:]))
	return b.blocks
}

// body adds the text between two headings as one block: a table or code
// block when it is only that, else a paragraph.
func body(b *builder, s string) {
	t := strings.TrimSpace(s)
	k := Paragraph
	switch {
	case strings.HasPrefix(t, "```") && strings.HasSuffix(t, "```"):
		k = Code
	case strings.HasPrefix(t, "|"):
		k = Table
	case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* "):
		k = List
	}
	b.add(k, strings.Trim(s, "\n"))
}

func lineEnd(src []byte, i int) int {
	if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(src)
}

func atx(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, " "), []byte("#"))
}
