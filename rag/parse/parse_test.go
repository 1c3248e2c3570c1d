package parse

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs is the folder of real documents shared by the project's tests.
const docs = "../../../shared/data/docs"

func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docs, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is absent: the shared documents are not on this machine", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realDocs says what each shared document parses to: its format, words
// its Markdown must hold, its headings, whether it has a table and its
// pages; or the kind of error it fails with.
var realDocs = []struct {
	file     string
	format   Format
	words    []string
	headings []string
	table    bool
	pages    int
	err      error
}{
	{file: "a1977-backus-p21.pdf", format: PDF, pages: 1, words: []string{"functional", "recursive functions"}},
	{file: "book-war-and-peace-1p.txt", format: Text, words: []string{"Prince", "Genoa"}},
	{file: "codeblock.md", format: Markdown, headings: []string{"## HTML Example", "## XML Example"}, words: []string{"```xml", "<h1>Hello, World!</h1>"}},
	{file: "contains-pictures.docx", format: DOCX, words: []string{"floating picture", "Lorem ipsum"}},
	{file: "copy-protected.pdf", format: PDF, pages: 2, words: []string{"LayoutParser", "Document Image Analysis"}},
	{file: "docx-hdrftr.docx", format: DOCX, table: true, words: []string{"Main document", "para2", "First header para"}},
	{file: "docx-tables.docx", format: DOCX, table: true, words: []string{"| Header Col 1 | Header Col 2 |", "Lorem ipsum", "Table with merged cells"}},
	{file: "embedded-cmap-cidfont.pdf", format: PDF, pages: 1, words: []string{"Heading in Helvetica", "embedded CMap"}},
	{file: "empty.txt", err: ErrEmpty},
	{file: "example-10k-1p.html", format: HTML, table: true, words: []string{"Galaxy Gaming, Inc.", "Commission file number: 000-30653", "| Nevada | 20-8143439 |"}},
	{file: "example-steelJIS-datasheet-utf-16.html", format: HTML, table: true, headings: []string{"## SNB22-3 Chemical composition, standards and properties"}, words: []string{"Chromium molybdenum steel", "成分"}},
	{file: "example-with-scripts.html", format: HTML, headings: []string{"# Russian Offensive Campaign Assessment, December 13"}, words: []string{"Belarusian forces remain unlikely"}},
	{file: "failure-after-repair.pdf", format: PDF, pages: 76, words: []string{"Understanding Breast Cancer", "Cancer Council"}},
	{file: "fake-html-cp1252.html", format: HTML, headings: []string{"# My First Heading"}, words: []string{"Die schöne Frau", "15,50 €", "El niño comió paella"}},
	{file: "fake-memo.pdf", format: PDF, pages: 1, words: []string{"20,000 bottles of water", "To Whom it May Concern"}},
	{file: "fake-text-all-whitespace.txt", err: ErrEmpty},
	{file: "fake-text-utf-16.txt", format: Text, words: []string{"This is a test document", "Hamburgers are delicious"}},
	{file: "fake.docx", format: DOCX, words: []string{"Lorem ipsum dolor sit amet."}},
	{file: "handbook-1p.docx", format: DOCX, words: []string{"CHAPTER 1", "United States Trustee"}},
	{file: "ideas-page.html", format: HTML, words: []string{"January 2023", "Knowledge grows fractally"}},
	{file: "invalid-pdf-structure-pdfminer-one-page.pdf", format: PDF, pages: 2, words: []string{"Cybersecurity", "critical infrastructure"}},
	{file: "korean-text-with-tables.pdf", format: PDF, pages: 1, words: []string{"적립 제외 대상"}},
	{file: "layout-parser-paper-fast.pdf", format: PDF, pages: 2, words: []string{"LayoutParser", "Zejiang Shen"}},
	{file: "multi-column-2p.pdf", format: PDF, pages: 2, words: []string{"Dense Passage Retrieval", "Question Answering"}},
	{file: "page-breaks.docx", format: DOCX, words: []string{"First page, tab here:", "Text on second page"}},
	{file: "password.pdf", err: ErrEncrypted},
	{file: "pdf-bad-color-space.pdf", format: PDF, pages: 1, words: []string{"Environmental Report", "Net-zero"}},
	{file: "pdf-with-ocr-text.pdf", format: PDF, pages: 1, words: []string{"Foundation"}},
	{file: "reliance.pdf", format: PDF, pages: 3, words: []string{"Corporate", "inclusive ecosystem"}},
	{file: "rotated-page-90.pdf", format: PDF, pages: 1, words: []string{"Rotated page fixture", "Hello World Test Text"}},
	{file: "simple.docx", format: DOCX, headings: []string{"# These are a few of my favorite things:"}, words: []string{"- Hockey", "This is my first thought."}},
	{file: "simple.json", format: JSON, words: []string{"text: These are a few of my favorite things:"}},
	{file: "single_table.pdf", err: ErrScanned},
	{file: "stanley-cups-utf-16.csv", format: CSV, table: true, words: []string{"| Team | Location | Stanley Cups |", "| Maple Leafs | TOR | 13 |"}},
	{file: "stanley-cups.csv", format: CSV, table: true, words: []string{"| Team | Location | Stanley Cups |", "| Maple Leafs | TOR | 13 |"}},
	{file: "umlauts-non-utf8.md", format: Markdown, headings: []string{"## können"}, words: []string{"äöüß"}},
}

func TestRealDocuments(t *testing.T) {
	if _, err := os.Stat(docs); err != nil {
		t.Skipf("%s is absent: the shared documents are not on this machine", docs)
	}
	for _, tc := range realDocs {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readDoc(t, tc.file)
			doc, err := Parse(context.Background(), tc.file, "", bytes.NewReader(data), Limits{})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var pe *Error
				if !errors.As(err, &pe) || pe.Error() == "" {
					t.Fatalf("err %v is not a *parse.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if doc.Format != tc.format {
				t.Errorf("format = %s, want %s", doc.Format, tc.format)
			}
			if doc.Pages != tc.pages {
				t.Errorf("pages = %d, want %d", doc.Pages, tc.pages)
			}
			md := doc.Markdown()
			for _, w := range tc.words {
				if !strings.Contains(md, w) {
					t.Errorf("no %q in the Markdown:\n%s", w, md[:min(len(md), 2000)])
				}
			}
			hasTable := false
			var headings []string
			for _, b := range doc.Blocks {
				hasTable = hasTable || b.Kind == Table
				if b.Kind == Heading {
					headings = append(headings, b.Text)
				}
				if strings.TrimSpace(b.Text) == "" {
					t.Errorf("block %+v is empty", b)
				}
				if (doc.Format == PDF) != (b.Page > 0) || b.Page > doc.Pages {
					t.Errorf("block page %d in a %s of %d pages", b.Page, doc.Format, doc.Pages)
				}
			}
			if hasTable != tc.table {
				t.Errorf("has a table: %v, want %v", hasTable, tc.table)
			}
			for _, h := range tc.headings {
				if !contains(headings, h) {
					t.Errorf("no heading %q in %q", h, headings)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseString parses in-memory content with the default limits.
func parseString(t *testing.T, name, content string) (*Document, error) {
	t.Helper()
	return Parse(context.Background(), name, "", strings.NewReader(content), Limits{})
}

func TestHTMLStructure(t *testing.T) {
	doc, err := parseString(t, "page.html", `<!doctype html><html><head><title>T</title>
<script>var x = "<p>not text</p>";</script><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a></nav>
<h1>Guide</h1><p>Intro <b>bold</b>
text.</p>
<h2>Setup</h2><ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>
<table><tr><th>Name</th><th>Value</th></tr><tr><td>a|b</td><td>1</td></tr></table>
<div style="display: none">hidden</div>
<h2>Use</h2><pre>code  here</pre></body></html>`)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Guide\n\nIntro bold text.\n\n## Setup\n\n- one\n- two\n  - nested\n\n| Name | Value |\n| --- | --- |\n| a\\|b | 1 |\n\n## Use\n\n```\ncode  here\n```"
	if got := doc.Markdown(); got != want {
		t.Errorf("Markdown =\n%s\nwant\n%s", got, want)
	}
	secs := doc.Sections()
	if len(secs) != 3 || strings.Join(secs[1].Path, " > ") != "Guide > Setup" || !strings.HasPrefix(secs[1].Text, "## Setup\n\n- one") {
		t.Errorf("sections = %+v", secs)
	}
}

func TestScriptsOnlyIsNoText(t *testing.T) {
	_, err := parseString(t, "x.html", `<html><head><script>alert(1)</script></head><body><script>document.write("hi")</script><style>b{}</style></body></html>`)
	if !errors.Is(err, ErrNoText) {
		t.Fatalf("err = %v, want ErrNoText", err)
	}
}

func TestMarkdownHeadingPaths(t *testing.T) {
	doc, err := parseString(t, "a.md", "# A\n\ntext a\n\n## B\n\n```\n# not a heading\n```\n\nSetext\n------\n\nbody\n\n# C\n\nc")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, b := range doc.Blocks {
		paths = append(paths, strings.Join(b.Path, "/")+"="+strings.SplitN(b.Text, "\n", 2)[0])
	}
	want := []string{"A=# A", "A=text a", "A/B=## B", "A/B=```", "A/Setext=## Setext", "A/Setext=body", "C=# C", "C=c"}
	if strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Errorf("paths = %q\nwant %q", paths, want)
	}
}

func TestEncodings(t *testing.T) {
	for _, tc := range []struct {
		name, enc string
		data      []byte
	}{
		{"bom.txt", "utf-8", append([]byte{0xEF, 0xBB, 0xBF}, "Grüße"...)},
		{"le.txt", "utf-16le", []byte{'G', 0, 0xFC, 0, 'e', 0, 'n', 0}},
		{"be.txt", "utf-16be", []byte{0, 'G', 0, 0xFC, 0, 'e', 0, 'n'}},
		{"latin1.txt", "windows-1252", []byte("Gr\xfc\xdfe \x80")},
		{"meta.html", "iso-8859-2", []byte(`<html><head><meta charset="iso-8859-2"></head><body><p>` + "\xb1" + `</p></body></html>`)},
	} {
		doc, err := Parse(context.Background(), tc.name, "", bytes.NewReader(tc.data), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if doc.Encoding != tc.enc {
			t.Errorf("%s: encoding %s, want %s (text %q)", tc.name, doc.Encoding, tc.enc, doc.Markdown())
		}
	}
}

func TestLyingExtension(t *testing.T) {
	doc, err := parseString(t, "report.pdf", "<html><body><h1>Really HTML</h1></body></html>")
	if err != nil || doc.Format != HTML {
		t.Errorf("HTML named .pdf: %v, %v", doc, err)
	}
	_, err = Parse(context.Background(), "report.pdf", "application/pdf", bytes.NewReader([]byte{0x89, 0, 1, 2, 0xFF, 0, 3, 7, 0, 0, 9, 0x1b}), Limits{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "says pdf") {
		t.Errorf("random bytes named .pdf: %v", err)
	}
	doc, err = parseString(t, "notes.docx", "just some text")
	if err != nil || doc.Format != Text {
		t.Errorf("text named .docx: %v, %v", doc, err)
	}
	_, err = parseString(t, "broken.pdf", "%PDF-1.7\n1 0 obj <<>> garbage")
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("broken PDF: %v, want ErrMalformed", err)
	}
}

func TestTooLarge(t *testing.T) {
	_, err := Parse(context.Background(), "a.txt", "", strings.NewReader(strings.Repeat("a", 100)), Limits{MaxBytes: 10})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestCSVAndJSON(t *testing.T) {
	doc, err := parseString(t, "x.csv", "a;b\n1;2\n")
	if err != nil || doc.Markdown() != "| a | b |\n| --- | --- |\n| 1 | 2 |" {
		t.Errorf("csv: %q, %v", doc.Markdown(), err)
	}
	doc, err = parseString(t, "x.json", `{"b": {"c": [1, "two"]}, "a": true}`)
	if err != nil || doc.Markdown() != "a: true\n\nb.c[0]: 1\nb.c[1]: two" {
		t.Errorf("json: %q, %v", doc.Markdown(), err)
	}
}
