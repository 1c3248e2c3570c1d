package parse

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseDOCX reads a Word document: word/document.xml for the text and
// word/styles.xml for which paragraph styles are headings. Paragraphs in
// a heading style (or with an outline level) become headings, numbered
// paragraphs list items, tables Markdown tables. Headers, footers,
// comments and deleted text are left out.
func parseDOCX(ctx context.Context, data []byte, l Limits) ([]Block, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, &Error{Format: DOCX, Kind: ErrMalformed, Detail: "not a readable zip archive", Err: err}
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
	}
	if total > uint64(l.MaxUnzipped) {
		return nil, &Error{Format: DOCX, Kind: ErrTooLarge, Detail: fmt.Sprintf("the archive inflates to %d bytes, over the limit of %d (a zip bomb?)", total, l.MaxUnzipped)}
	}
	z := &unzipper{zr: zr, budget: l.MaxUnzipped, ratio: l.MaxRatio}
	styles := map[string]style{}
	if raw, err := z.read("word/styles.xml"); err == nil {
		if root, err := parseXML(raw); err == nil {
			styles = stylesOf(root)
		}
	} else if errors.Is(err, ErrTooLarge) {
		return nil, err
	}
	raw, err := z.read("word/document.xml")
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Format: DOCX, Kind: ErrTooLarge, Detail: "the parse did not finish in time", Err: err}
	}
	root, err := parseXML(raw)
	if err != nil {
		return nil, &Error{Format: DOCX, Kind: ErrMalformed, Detail: "word/document.xml: " + err.Error(), Err: err}
	}
	w := &docxWalker{styles: styles}
	if body := root.child("body"); body != nil {
		w.container(body)
	}
	w.flushList()
	// Headers and footers follow the body once each, under no heading.
	w.b.path, w.b.levels = nil, nil
	for _, f := range zr.File {
		if !headerFooter(f.Name) {
			continue
		}
		raw, err := z.read(f.Name)
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		if root, err := parseXML(raw); err == nil {
			w.container(root)
			w.flushList()
		}
	}
	return w.b.blocks, nil
}

// unzipper reads archive parts within a budget of inflated bytes and a
// largest ratio per part, whatever the sizes the archive declares.
type unzipper struct {
	zr     *zip.Reader
	budget int64
	ratio  int64
}

func (z *unzipper) read(name string) ([]byte, error) {
	for _, f := range z.zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, &Error{Format: DOCX, Kind: ErrMalformed, Detail: name + ": " + err.Error(), Err: err}
		}
		defer rc.Close()
		limit := min(z.budget, max(1<<20, int64(f.CompressedSize64)*z.ratio))
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, &Error{Format: DOCX, Kind: ErrMalformed, Detail: name + ": " + err.Error(), Err: err}
		}
		if int64(len(b)) > limit {
			return nil, &Error{Format: DOCX, Kind: ErrTooLarge, Detail: fmt.Sprintf("%s inflates past %d bytes (compression ratio over %d or total over %d: a zip bomb?)", name, limit, z.ratio, z.budget)}
		}
		z.budget -= int64(len(b))
		return b, nil
	}
	return nil, &Error{Format: DOCX, Kind: ErrMalformed, Detail: "no " + name + " in the archive"}
}

// xnode is an XML element with its local name, attributes by local name,
// and children; text is the character data of a w:t or w:instrText.
type xnode struct {
	name     string
	attr     map[string]string
	children []*xnode
	text     []byte
}

func (n *xnode) child(name string) *xnode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// maxXMLDepth bounds nesting so that a crafted part cannot exhaust the
// stack.
const maxXMLDepth = 256

func parseXML(raw []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = false
	root := &xnode{}
	stack := []*xnode{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > maxXMLDepth {
				return nil, errors.New("elements nested too deep")
			}
			n := &xnode{name: t.Name.Local}
			for _, a := range t.Attr {
				if n.attr == nil {
					n.attr = map[string]string{}
				}
				n.attr[a.Name.Local] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if top.name == "t" {
				top.text = append(top.text, t...)
			}
		}
	}
	if len(root.children) == 0 {
		return nil, errors.New("no root element")
	}
	return root.children[0], nil
}

// style is what a paragraph style says about structure.
type style struct {
	heading int  // 1–6, 0 for none
	list    bool // a list style
}

// stylesOf reads word/styles.xml: a style named "heading N" or "Title",
// or with an outline level, is a heading.
func stylesOf(root *xnode) map[string]style {
	out := map[string]style{}
	for _, s := range root.children {
		if s.name != "style" || s.attr["type"] != "paragraph" {
			continue
		}
		var st style
		name := ""
		if n := s.child("name"); n != nil {
			name = strings.ToLower(n.attr["val"])
		}
		switch {
		case name == "title":
			st.heading = 1
		case strings.HasPrefix(name, "heading "):
			if n, err := strconv.Atoi(strings.TrimPrefix(name, "heading ")); err == nil {
				st.heading = max(1, min(n, 6))
			}
		case strings.HasPrefix(name, "list"):
			st.list = true
		}
		if p := s.child("pPr"); p != nil && st.heading == 0 {
			if o := p.child("outlineLvl"); o != nil {
				if n, err := strconv.Atoi(o.attr["val"]); err == nil && n < 9 {
					st.heading = max(1, min(n+1, 6))
				}
			}
		}
		out[s.attr["styleId"]] = st
	}
	return out
}

type docxWalker struct {
	b      builder
	styles map[string]style
	list   []string
}

// container walks the block content of a body, cell or content control.
func (w *docxWalker) container(n *xnode) {
	for _, c := range n.children {
		switch c.name {
		case "p":
			w.paragraph(c)
		case "tbl":
			w.flushList()
			w.b.add(Table, table(w.rows(c)))
		case "sdt":
			if content := c.child("sdtContent"); content != nil {
				w.container(content)
			}
		case "customXml", "ins", "smartTag":
			w.container(c)
		}
	}
}

func (w *docxWalker) paragraph(p *xnode) {
	text := strings.TrimSpace(runText(p))
	var st style
	level, ilvl, numbered := 0, 0, false
	if pr := p.child("pPr"); pr != nil {
		if s := pr.child("pStyle"); s != nil {
			id := s.attr["val"]
			st = w.styles[id]
			if st.heading == 0 && strings.HasPrefix(strings.ToLower(id), "heading") {
				if n, err := strconv.Atoi(id[len("heading"):]); err == nil {
					st.heading = max(1, min(n, 6))
				}
			}
		}
		level = st.heading
		if o := pr.child("outlineLvl"); o != nil {
			if n, err := strconv.Atoi(o.attr["val"]); err == nil && n < 9 {
				level = max(1, min(n+1, 6))
			}
		}
		if np := pr.child("numPr"); np != nil {
			numbered = true
			if il := np.child("ilvl"); il != nil {
				ilvl, _ = strconv.Atoi(il.attr["val"])
				ilvl = max(0, min(ilvl, 8))
			}
			if id := np.child("numId"); id != nil && id.attr["val"] == "0" {
				numbered = false // numbering removed
			}
		}
	}
	if text == "" {
		return
	}
	switch {
	case level > 0:
		w.flushList()
		w.b.heading(level, text)
	case numbered || st.list:
		w.list = append(w.list, strings.Repeat("  ", ilvl)+"- "+oneLine(text))
	default:
		w.flushList()
		w.b.add(Paragraph, text)
	}
}

func (w *docxWalker) flushList() {
	if len(w.list) > 0 {
		w.b.add(List, strings.Join(w.list, "\n"))
		w.list = nil
	}
}

// rows returns a table's cells; a cell's paragraphs join with spaces and
// a nested table's text joins its cell's.
func (w *docxWalker) rows(tbl *xnode) [][]string {
	var rows [][]string
	for _, tr := range tbl.children {
		if tr.name != "tr" {
			continue
		}
		var row []string
		for _, tc := range tr.children {
			if tc.name != "tc" {
				continue
			}
			// The continuation of a vertically merged cell shows nothing.
			if pr := tc.child("tcPr"); pr != nil {
				if vm := pr.child("vMerge"); vm != nil && vm.attr["val"] != "restart" {
					row = append(row, "")
					continue
				}
			}
			row = append(row, oneLine(allText(tc)))
		}
		rows = append(rows, row)
	}
	return rows
}

// runText returns a paragraph's text: w:t, tabs and breaks, not deleted
// text, field codes or the paragraphs of text boxes (a drawing's text is
// added where it is anchored).
func runText(p *xnode) string {
	var b strings.Builder
	var walk func(*xnode)
	walk = func(n *xnode) {
		for _, c := range n.children {
			switch c.name {
			case "t":
				b.Write(c.text)
			case "tab":
				b.WriteString("\t")
			case "br", "cr":
				b.WriteString("\n")
			case "del", "instrText", "delText", "pPr", "rPr", "footnoteReference":
			case "p":
				b.WriteString("\n")
				walk(c)
				b.WriteString("\n")
			default:
				walk(c)
			}
		}
	}
	walk(p)
	return b.String()
}

// allText returns all the text under n, paragraphs separated by spaces.
func allText(n *xnode) string {
	var b strings.Builder
	for _, c := range n.children {
		switch c.name {
		case "p":
			b.WriteString(runText(c))
			b.WriteString(" ")
		case "del", "pPr", "tcPr":
		default:
			b.WriteString(allText(c))
		}
	}
	return b.String()
}

// headerFooter reports whether an archive part is a header or footer.
func headerFooter(name string) bool {
	base, ok := strings.CutPrefix(name, "word/")
	return ok && strings.HasSuffix(base, ".xml") && !strings.Contains(base, "/") &&
		(strings.HasPrefix(base, "header") || strings.HasPrefix(base, "footer"))
}
