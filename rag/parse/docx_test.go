package parse

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDOCXStructure(t *testing.T) {
	data := docxOf(t, para("Titre", "Handbook")+para("", "Intro.")+
		para("Heading2", "Rules")+item(0, "first")+item(1, "sub")+
		`<w:tbl><w:tr>`+cell("Name")+cell("Age")+`</w:tr><w:tr>`+cell("Ann")+cell("41")+`</w:tr></w:tbl>`+
		para("Heading1", "Next")+`<w:p><w:r><w:t>kept</w:t></w:r><w:del><w:r><w:delText>gone</w:delText></w:r></w:del></w:p>`)
	doc, err := Parse(context.Background(), "h.docx", "", bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "# Handbook\n\nIntro.\n\n## Rules\n\n- first\n  - sub\n\n| Name | Age |\n| --- | --- |\n| Ann | 41 |\n\n# Next\n\nkept"
	if got := doc.Markdown(); got != want {
		t.Errorf("Markdown =\n%s\nwant\n%s", got, want)
	}
	last := doc.Blocks[len(doc.Blocks)-1]
	if strings.Join(last.Path, "/") != "Next" {
		t.Errorf("last block's path = %q", last.Path)
	}
	table := doc.Blocks[4]
	if table.Kind != Table || strings.Join(table.Path, "/") != "Handbook/Rules" {
		t.Errorf("table block = %+v", table)
	}
}

// TestZipBomb builds a DOCX whose document.xml inflates far past its
// compressed size, and one whose declared sizes lie.
func TestZipBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("word/document.xml")
	w.Write([]byte(`<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>`))
	zeros := make([]byte, 1<<20)
	for range 64 {
		w.Write(zeros) // 64 MiB of zeros compress about 1000 to 1
	}
	zw.Close()
	_, err := Parse(context.Background(), "bomb.docx", "", bytes.NewReader(buf.Bytes()), Limits{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "zip bomb") {
		t.Fatalf("ratio bomb: err = %v, want ErrTooLarge", err)
	}
	_, err = Parse(context.Background(), "bomb.docx", "", bytes.NewReader(buf.Bytes()), Limits{MaxUnzipped: 1 << 20, MaxRatio: 1 << 20})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("total bomb: err = %v, want ErrTooLarge", err)
	}
}

func TestDOCXBroken(t *testing.T) {
	for name, data := range map[string][]byte{
		"no document":  zipOf(t, map[string]string{"word/document.xml.bak": "x", "word/styles.xml": "<a/>"}),
		"bad xml":      zipOf(t, map[string]string{"word/document.xml": "<w:document><w:body><w:p>"}),
		"truncated":    docxOf(t, para("", "hello"))[:200],
		"deep nesting": docxOf(t, strings.Repeat("<w:sdt><w:sdtContent>", 300)+para("", "x")),
	} {
		_, err := Parse(context.Background(), "x.docx", "", bytes.NewReader(data), Limits{})
		var pe *Error
		if err == nil || !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a *parse.Error", name, err)
		}
	}
}
