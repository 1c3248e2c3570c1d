package parse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Format is a document's real type, as Parse found it from its content.
type Format string

// The formats Parse reads.
const (
	PDF      Format = "pdf"
	HTML     Format = "html"
	Markdown Format = "markdown"
	Text     Format = "text"
	DOCX     Format = "docx"
	CSV      Format = "csv"
	JSON     Format = "json"
)

// Kind is what a block holds.
type Kind uint8

// The kinds of block.
const (
	Paragraph Kind = iota
	Heading
	List
	Table
	Code
)

// Block is one heading, paragraph, list, table or code block, as Markdown.
type Block struct {
	Kind Kind
	// Text is the block as Markdown: "## Title", "- item", "| a | b |".
	Text string
	// Path is the heading path the block is under, outermost first; a
	// heading's own path ends with itself.
	Path []string
	// Level is a heading's level, 1 to 6; zero for other blocks.
	Level int
	// Page is the 1-based page the block is on, 0 when the format has no
	// pages.
	Page int
}

// Document is a parsed file: its blocks in reading order.
type Document struct {
	Format Format
	// Encoding names the text encoding the file was decoded from
	// ("utf-8", "utf-16le", "windows-1252"…); empty for PDF and DOCX.
	Encoding string
	// Pages is the number of pages of a PDF, 0 for other formats.
	Pages  int
	Blocks []Block
}

// Section is a heading and the blocks under it up to the next heading.
type Section struct {
	Path []string // heading path; empty before the first heading
	Page int      // page of the section's first block
	Text string   // the blocks' Markdown, separated by blank lines
}

// Markdown returns the whole document as Markdown, blocks separated by a
// blank line.
func (d *Document) Markdown() string {
	var b strings.Builder
	for i, bl := range d.Blocks {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(bl.Text)
	}
	return b.String()
}

// Sections groups the blocks into sections: a new section starts at every
// heading and at every page.
func (d *Document) Sections() []Section {
	var out []Section
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out[len(out)-1].Text = b.String()
			b.Reset()
		}
	}
	for i, bl := range d.Blocks {
		if i == 0 || bl.Kind == Heading || bl.Page != d.Blocks[i-1].Page {
			flush()
			path := bl.Path
			out = append(out, Section{Path: path, Page: bl.Page})
		} else {
			b.WriteString("\n\n")
		}
		b.WriteString(bl.Text)
	}
	flush()
	return out
}

// Limits bound the work one document may cause. The zero value is valid:
// each zero field takes its default.
type Limits struct {
	// MaxBytes is the largest file read; default 64 MiB.
	MaxBytes int64
	// MaxUnzipped is the most bytes a DOCX may inflate to in all; default
	// 256 MiB.
	MaxUnzipped int64
	// MaxRatio is the largest inflated-to-compressed ratio of one DOCX
	// part; default 200.
	MaxRatio int64
	// MaxPages is the most PDF pages read; default 5000.
	MaxPages int
	// MaxMemory is the memory the PDF engine may use for one document;
	// default 512 MiB. An engine takes it from the first PDF it reads:
	// that of New for a Parser, the first Parse's for the shared one.
	MaxMemory int64
	// Timeout bounds the parse of one document; default 2 minutes.
	Timeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 64 << 20
	}
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = 256 << 20
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 200
	}
	if l.MaxPages <= 0 {
		l.MaxPages = 5000
	}
	if l.MaxMemory <= 0 {
		l.MaxMemory = 512 << 20
	}
	if l.Timeout <= 0 {
		l.Timeout = 2 * time.Minute
	}
	return l
}

// Parse reads a file and returns its blocks. name is the file's name (its
// extension is a hint), contentType the declared media type (a hint, may
// be empty). The real type is found from the content. Errors are *Error
// and match one of the Err kinds with errors.Is.
//
// Parse uses the package's shared PDF engine; see Parser for one whose
// life the caller owns.
func Parse(ctx context.Context, name, contentType string, r io.Reader, l Limits) (*Document, error) {
	return parse(ctx, sharedEngine(), name, contentType, r, l)
}

// Parser parses documents with its own PDF engine, which Close releases.
// It is safe for concurrent use.
type Parser struct {
	limits Limits
	pdf    *pdfEngine
}

// New returns a Parser with the limits l. Its PDF engine is built on the
// first PDF.
func New(l Limits) *Parser {
	return &Parser{limits: l, pdf: newPDFEngine()}
}

// Parse is the package's Parse with p's engine and limits.
func (p *Parser) Parse(ctx context.Context, name, contentType string, r io.Reader) (*Document, error) {
	return parse(ctx, p.pdf, name, contentType, r, p.limits)
}

// Close releases the PDF engine; Parse must not be called after.
func (p *Parser) Close() error { return p.pdf.close() }

func parse(ctx context.Context, pdf *pdfEngine, name, contentType string, r io.Reader, l Limits) (doc *Document, err error) {
	l = l.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	data, err := io.ReadAll(io.LimitReader(r, l.MaxBytes+1))
	if err != nil {
		return nil, &Error{Kind: ErrMalformed, Detail: "read: " + err.Error()}
	}
	if int64(len(data)) > l.MaxBytes {
		return nil, &Error{Kind: ErrTooLarge, Detail: fmt.Sprintf("file is over %d bytes", l.MaxBytes)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Kind: ErrEmpty, Detail: "the file holds no text"}
	}
	// A parser bug must fail the file, not the process.
	defer func() {
		if v := recover(); v != nil {
			doc, err = nil, &Error{Kind: ErrMalformed, Detail: fmt.Sprintf("parser failed: %v", v)}
		}
	}()
	f, err := detect(name, contentType, data)
	if err != nil {
		return nil, err
	}
	switch f {
	case PDF:
		doc, err = pdf.parse(ctx, data, l)
	case DOCX:
		var blocks []Block
		blocks, err = parseDOCX(ctx, data, l)
		doc = &Document{Format: DOCX, Blocks: blocks}
	default:
		doc, err = parseText(f, contentType, data)
	}
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && pe.Format == "" {
			pe.Format = f
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Format: f, Kind: ErrTooLarge, Detail: "the parse did not finish in time", Err: err}
	}
	if len(doc.Blocks) == 0 {
		return nil, &Error{Format: f, Kind: ErrNoText, Detail: "no text found"}
	}
	return doc, nil
}

// parseText decodes a text format and parses it.
func parseText(f Format, contentType string, data []byte) (*Document, error) {
	s, enc := decode(data, f == HTML, contentType)
	if strings.TrimSpace(s) == "" {
		return nil, &Error{Format: f, Kind: ErrEmpty, Detail: "the file holds no text"}
	}
	var (
		blocks []Block
		err    error
	)
	switch f {
	case HTML:
		blocks, err = parseHTML(s)
	case Markdown:
		blocks = parseMarkdown(s)
	case CSV:
		blocks, err = parseCSV(s)
	case JSON:
		blocks, err = parseJSON(s)
	default:
		blocks = parsePlain(s)
	}
	if err != nil {
		return nil, err
	}
	return &Document{Format: f, Encoding: enc, Blocks: blocks}, nil
}
