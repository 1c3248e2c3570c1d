package parse

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// checkParse is what every fuzz target holds Parse to: it returns in
// time, with a document of non-empty blocks or a *parse.Error of one of
// the kinds.
func checkParse(t *testing.T, name string, data []byte) {
	if !strings.HasSuffix(name, ".pdf") && bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) {
		t.Skip("a PDF: FuzzParsePDF's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	doc, err := Parse(ctx, name, "", bytes.NewReader(data), Limits{MaxUnzipped: 16 << 20, MaxMemory: 128 << 20})
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("err %v (%T) is not a *parse.Error", err, err)
		}
		for _, k := range []error{ErrEmpty, ErrNoText, ErrScanned, ErrEncrypted, ErrTooLarge, ErrUnsupported, ErrMalformed} {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("err %v has no kind", err)
	}
	if len(doc.Blocks) == 0 {
		t.Fatal("a document with no blocks and no error")
	}
	for _, b := range doc.Blocks {
		if strings.TrimSpace(b.Text) == "" {
			t.Fatalf("empty block %+v", b)
		}
	}
}

// warm builds the shared PDF engine before fuzzing PDFs: compiling it
// takes longer than the fuzzer lets one input run.
func warm(f *testing.F) {
	if _, err := Parse(context.Background(), "warm.pdf", "", bytes.NewReader(pdfOf([]string{"warm"})), Limits{}); err != nil {
		f.Fatal(err)
	}
}

func FuzzParseHTML(f *testing.F) {
	f.Add([]byte(`<html><body><h1>T</h1><p>a<br>b</p><ul><li>x<ol><li>y</li></ol></li></ul></body></html>`))
	f.Add([]byte(`<table><tr><td>a</td><td>b</td></tr><tr><td><table><tr><td>n</td></tr></table></td></tr></table>`))
	f.Add([]byte(`<html><script>x</script><style>y</style></html>`))
	f.Add([]byte("<meta charset=\"koi8-r\"><p>\xc1\xc2</p>"))
	f.Add([]byte(`<pre><b>x</b><br></pre><h7>no</h7><h2></h2>`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.html", data) })
}

func FuzzParseMarkdown(f *testing.F) {
	f.Add([]byte("# A\n\ntext\n\n## B\n```\n# x\n```\nS\n=\n"))
	f.Add([]byte("| a | b |\n|---|---|\n| 1 | 2 |\n"))
	f.Add([]byte("#\n##   \n- a\n  - b\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.md", data) })
}

func FuzzParseText(f *testing.F) {
	f.Add([]byte("plain\n\ntext"))
	f.Add([]byte{0xFF, 0xFE, 'a', 0, 'b', 0})
	f.Add([]byte("caf\xe9"))
	f.Add([]byte(`{"a": [1, {"b": null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.txt", data) })
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"))
	f.Add([]byte("a;b;c\n\"x;\"\"y\";2\n"))
	f.Add([]byte("x\n\"unterminated\n"))
	f.Add([]byte("a\tb\n1\n1\t2\t3\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.csv", data) })
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`[{"text": "a", "n": 1.5e300}, null, "s"]`))
	f.Add([]byte(`{"a": {"b": [true, false]}}`))
	f.Add([]byte(`"just a string"`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.json", data) })
}

func FuzzParseDOCX(f *testing.F) {
	f.Add(docxOf(f, para("Heading1", "T")+item(0, "a")+`<w:tbl><w:tr>`+cell("x")+cell("y")+`</w:tr></w:tbl>`))
	f.Add(docxOf(f, `<w:p><w:r><w:t>a</w:t><w:tab/><w:br/></w:r></w:p>`))
	f.Add(zipOf(f, map[string]string{"word/document.xml": "<x/>"}))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.docx", data) })
}

func FuzzParsePDF(f *testing.F) {
	warm(f)
	f.Add(pdfOf([]string{"Hello", "world"}))
	f.Add(pdfOf(nil))
	f.Add([]byte("%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>"))
	f.Add([]byte("%PDF-1.4\n%\xe2\xe3\n1 0 obj <</Encrypt 2 0 R>> endobj"))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "x.pdf", data) })
}
