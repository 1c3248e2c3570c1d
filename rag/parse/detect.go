package parse

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// detect finds a file's real format from its content; the name's
// extension and the declared content type only choose between text
// formats that content cannot tell apart (Markdown, CSV, plain text, and
// HTML that does not start with a tag).
// A file whose extension lies is read as what it is, or refused as
// ErrUnsupported when it is binary of a type Parse does not read.
func detect(name, contentType string, data []byte) (Format, error) {
	hint := hintOf(name, contentType)
	head := data[:min(len(data), 1024)]
	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")) || hint == PDF && bytes.Contains(head, []byte("%PDF-")):
		return PDF, nil
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		if isDOCX(data) {
			return DOCX, nil
		}
		return "", &Error{Kind: ErrUnsupported, Detail: "a zip archive that is not a Word (.docx) document" + lied(hint)}
	}
	// Whatever its name says, the file is not a PDF or DOCX: read it as
	// what it is.
	s, _ := decode(head, false, "")
	if binary(s) {
		return "", &Error{Kind: ErrUnsupported, Detail: "binary content of an unknown type" + lied(hint)}
	}
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	if looksHTML(t) {
		return HTML, nil
	}
	if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && hint != Markdown && hint != CSV {
		full, _ := decode(data, false, "")
		if json.Valid([]byte(full)) {
			return JSON, nil
		}
	}
	switch hint {
	case Markdown, CSV, HTML:
		return hint, nil
	}
	return Text, nil // plain text, or JSON that is not valid: its text
}

// lied says what the name claimed when the content is something else.
func lied(hint Format) string {
	if hint == "" {
		return ""
	}
	return " (the name or content type says " + string(hint) + ")"
}

// hintOf maps an extension or media type to the format it claims.
func hintOf(name, contentType string) Format {
	switch strings.ToLower(path.Ext(name)) {
	case ".pdf":
		return PDF
	case ".docx":
		return DOCX
	case ".htm", ".html", ".xhtml":
		return HTML
	case ".md", ".markdown", ".mdx":
		return Markdown
	case ".csv":
		return CSV
	case ".json":
		return JSON
	case ".txt", ".text":
		return Text
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/pdf":
		return PDF
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return DOCX
	case "text/html", "application/xhtml+xml":
		return HTML
	case "text/markdown", "text/x-markdown":
		return Markdown
	case "text/csv":
		return CSV
	case "application/json":
		return JSON
	}
	return ""
}

// isDOCX reports whether data is a zip archive holding word/document.xml.
func isDOCX(data []byte) bool {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return false
	}
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			return true
		}
	}
	return false
}

// binary reports whether decoded text looks like binary data: NUL bytes,
// invalid runes or many control characters.
func binary(s string) bool {
	ctl, n := 0, 0
	for _, r := range s {
		n++
		switch {
		case r == 0:
			return true
		case r == utf8.RuneError:
			ctl++
		case r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != '\f':
			ctl++
		}
	}
	return n > 0 && ctl*10 > n
}

var htmlStarts = []string{"<!doctype html", "<html", "<head", "<body", "<?xml", "<!--", "<meta", "<title", "<div", "<p>", "<p ", "<table", "<h1", "<h2", "<span", "<script", "<style", "<link", "<section", "<article"}

// looksHTML reports whether text that starts at its first non-space rune
// is HTML.
func looksHTML(t string) bool {
	if !strings.HasPrefix(t, "<") {
		return false
	}
	l := strings.ToLower(t[:min(len(t), 64)])
	for _, p := range htmlStarts {
		if strings.HasPrefix(l, p) {
			if p == "<?xml" || p == "<!--" {
				return strings.Contains(strings.ToLower(t[:min(len(t), 1024)]), "<html")
			}
			return true
		}
	}
	return false
}
