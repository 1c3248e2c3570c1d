package parse

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// parseHTML reads an HTML page into blocks: h1–h6 become headings, ul and
// ol lists, table Markdown tables, pre code blocks, and the text of other
// elements paragraphs. Scripts, styles, navigation, forms and hidden
// elements are dropped.
func parseHTML(s string) ([]Block, error) {
	root, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return nil, &Error{Format: HTML, Kind: ErrMalformed, Detail: err.Error(), Err: err}
	}
	w := &htmlWalker{}
	w.node(root)
	w.flush()
	return w.b.blocks, nil
}

type htmlWalker struct {
	b    builder
	para strings.Builder
}

// skipped reports whether an element holds no document text.
func skipped(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Nav, atom.Head,
		atom.Svg, atom.Iframe, atom.Object, atom.Canvas, atom.Button, atom.Select,
		atom.Textarea, atom.Form, atom.Aside, atom.Math:
		return true
	}
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "aria-hidden":
			if a.Val == "true" {
				return true
			}
		case "style":
			if strings.Contains(strings.ReplaceAll(strings.ToLower(a.Val), " ", ""), "display:none") {
				return true
			}
		}
	}
	return false
}

var headingLevel = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

// inlineAtoms are the elements that do not break a paragraph.
var inlineAtoms = map[atom.Atom]bool{
	atom.A: true, atom.Abbr: true, atom.B: true, atom.Bdi: true, atom.Bdo: true, atom.Cite: true,
	atom.Code: true, atom.Data: true, atom.Dfn: true, atom.Em: true, atom.Font: true, atom.I: true,
	atom.Kbd: true, atom.Label: true, atom.Mark: true, atom.Q: true, atom.S: true, atom.Samp: true,
	atom.Small: true, atom.Span: true, atom.Strong: true, atom.Sub: true, atom.Sup: true,
	atom.Time: true, atom.U: true, atom.Var: true, atom.Wbr: true, atom.Img: true,
}

func (w *htmlWalker) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		// Line breaks in the source are spaces; only br breaks a line.
		w.para.WriteString(strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, n.Data))
		return
	case html.ElementNode:
	case html.DocumentNode:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			w.node(c)
		}
		return
	default:
		return
	}
	if skipped(n) {
		return
	}
	if lvl, ok := headingLevel[n.DataAtom]; ok {
		w.flush()
		w.b.heading(lvl, textOf(n))
		return
	}
	switch n.DataAtom {
	case atom.Ul, atom.Ol:
		w.flush()
		var lines []string
		w.list(n, 0, &lines)
		w.b.add(List, strings.Join(lines, "\n"))
		return
	case atom.Table:
		w.flush()
		if rows := rowsOf(n); !layout(rows) {
			w.b.add(Table, table(rows))
			return
		}
		// A table that lays out a page: read its cells as the page.
	case atom.Pre:
		w.flush()
		var b strings.Builder
		rawText(n, &b)
		if t := strings.Trim(b.String(), "\n"); strings.TrimSpace(t) != "" {
			w.b.add(Code, "```\n"+t+"\n```")
		}
		return
	case atom.Br:
		w.para.WriteString("\n")
		return
	}
	block := !inlineAtoms[n.DataAtom] && n.DataAtom != 0
	if block {
		w.flush()
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
	if block {
		w.flush()
	}
}

// flush ends the paragraph being gathered.
func (w *htmlWalker) flush() {
	if w.para.Len() == 0 {
		return
	}
	var lines []string
	for l := range strings.SplitSeq(w.para.String(), "\n") {
		if l = oneLine(l); l != "" {
			lines = append(lines, l)
		}
	}
	w.para.Reset()
	w.b.add(Paragraph, strings.Join(lines, "\n"))
}

// list renders the items of a ul or ol, nested lists indented.
func (w *htmlWalker) list(n *html.Node, depth int, lines *[]string) {
	for li := n.FirstChild; li != nil; li = li.NextSibling {
		if li.Type != html.ElementNode || skipped(li) {
			continue
		}
		if li.DataAtom == atom.Ul || li.DataAtom == atom.Ol {
			w.list(li, depth+1, lines)
			continue
		}
		var b strings.Builder
		var nested []*html.Node
		for c := li.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && (c.DataAtom == atom.Ul || c.DataAtom == atom.Ol) {
				nested = append(nested, c)
				continue
			}
			inlineText(c, &b)
		}
		if t := oneLine(b.String()); t != "" {
			*lines = append(*lines, strings.Repeat("  ", depth)+"- "+t)
		}
		for _, c := range nested {
			w.list(c, depth+1, lines)
		}
	}
}

// rowsOf returns the cells of a table's rows, not those of tables nested
// in its cells, whose text joins their cell's.
func rowsOf(t *html.Node) [][]string {
	var rows [][]string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipped(c) {
				continue
			}
			switch c.DataAtom {
			case atom.Tr:
				var row []string
				for td := c.FirstChild; td != nil; td = td.NextSibling {
					if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
						row = append(row, textOf(td))
					}
				}
				rows = append(rows, row)
			case atom.Thead, atom.Tbody, atom.Tfoot:
				walk(c)
			}
		}
	}
	walk(t)
	return rows
}

// textOf returns the visible text under n on one line.
func textOf(n *html.Node) string {
	var b strings.Builder
	inlineText(n, &b)
	return oneLine(b.String())
}

func inlineText(n *html.Node, b *strings.Builder) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(n.Data)
		return
	case html.ElementNode:
		if skipped(n) {
			return
		}
		if !inlineAtoms[n.DataAtom] {
			b.WriteString(" ")
			defer b.WriteString(" ")
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		inlineText(c, b)
	}
}

// rawText returns the text under n as written, for pre.
func rawText(n *html.Node, b *strings.Builder) {
	if n.Type == html.TextNode {
		b.WriteString(n.Data)
		return
	}
	if n.Type == html.ElementNode {
		if skipped(n) {
			return
		}
		if n.DataAtom == atom.Br {
			b.WriteString("\n")
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		rawText(c, b)
	}
}

// layout reports whether a table's rows are a page's layout rather than
// data: one row, or no row with two cells of text.
func layout(rows [][]string) bool {
	if len(rows) <= 1 {
		return true
	}
	for _, r := range rows {
		n := 0
		for _, c := range r {
			if strings.TrimSpace(c) != "" {
				n++
			}
		}
		if n >= 2 {
			return false
		}
	}
	return true
}
