package parse

import (
	"strings"
	"unicode"
)

// builder appends blocks and keeps the heading path they are under.
type builder struct {
	blocks []Block
	path   []string
	levels []int
	page   int
}

// heading starts a section: it pops the headings of its level and deeper
// and pushes itself.
func (b *builder) heading(level int, text string) {
	text = oneLine(text)
	if text == "" {
		return
	}
	level = max(1, min(level, 6))
	for len(b.levels) > 0 && b.levels[len(b.levels)-1] >= level {
		b.levels = b.levels[:len(b.levels)-1]
		b.path = b.path[:len(b.path)-1]
	}
	b.levels = append(b.levels, level)
	b.path = append(b.path, text)
	b.blocks = append(b.blocks, Block{
		Kind:  Heading,
		Text:  strings.Repeat("#", level) + " " + text,
		Path:  clone(b.path),
		Level: level,
		Page:  b.page,
	})
}

// add appends a block unless its text is blank.
func (b *builder) add(k Kind, text string) {
	text = strings.TrimRightFunc(text, unicode.IsSpace)
	if strings.TrimSpace(text) == "" {
		return
	}
	if k != Code {
		text = strings.TrimLeft(text, "\n")
	}
	b.blocks = append(b.blocks, Block{Kind: k, Text: text, Path: clone(b.path), Page: b.page})
}

func clone(p []string) []string {
	if len(p) == 0 {
		return nil
	}
	return append([]string(nil), p...)
}

// oneLine collapses every run of white space to one space and trims.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// table renders rows as a Markdown table, the first row as its header.
// Columns empty in every row are dropped, and so are empty rows; a cell's
// "|" is escaped and its line breaks become spaces.
func table(rows [][]string) string {
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	used := make([]bool, width)
	var kept [][]string
	for _, r := range rows {
		empty := true
		for i, c := range r {
			c = strings.ReplaceAll(oneLine(c), "|", `\|`)
			r[i] = c
			if c != "" {
				used[i], empty = true, false
			}
		}
		if !empty {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	var b strings.Builder
	line := func(r []string) {
		b.WriteString("|")
		for i := range width {
			if !used[i] {
				continue
			}
			c := ""
			if i < len(r) {
				c = r[i]
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(kept[0])
	b.WriteString("|")
	for i := range width {
		if used[i] {
			b.WriteString(" --- |")
		}
	}
	b.WriteString("\n")
	for _, r := range kept[1:] {
		line(r)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
