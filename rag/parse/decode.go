package parse

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
)

// decode returns data as UTF-8 and the name of the encoding it was read
// from. In order: a byte-order mark; UTF-16 without a mark (one byte of
// most pairs is zero); for HTML, the charset the content type or a meta
// tag declares; UTF-8 when the bytes are valid UTF-8; else windows-1252,
// the superset of Latin-1 that browsers read Latin-1 as.
func decode(data []byte, isHTML bool, contentType string) (string, string) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return strings.ToValidUTF8(string(data[3:]), "\uFFFD"), "utf-8"
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return with(unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), data), "utf-16le"
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return with(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), data), "utf-16be"
	}
	if e, name := utf16Guess(data); e != nil {
		return with(e, data), name
	}
	if isHTML {
		// A declared charset other than the two the checks below find.
		if _, name, _ := charset.DetermineEncoding(data, contentType); name != "utf-8" && name != "windows-1252" {
			if e, err := htmlindex.Get(name); err == nil {
				return with(e, data), name
			}
		}
	}
	if utf8.Valid(data) {
		return string(data), "utf-8"
	}
	return with(charmap.Windows1252, data), "windows-1252"
}

func with(e encoding.Encoding, data []byte) string {
	out, err := e.NewDecoder().Bytes(data)
	if err != nil {
		return strings.ToValidUTF8(string(data), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// utf16Guess recognises UTF-16 text without a byte-order mark: in most
// of the first pairs of bytes, the same one of the two is zero.
func utf16Guess(data []byte) (encoding.Encoding, string) {
	n := min(len(data), 512) &^ 1
	if n < 4 {
		return nil, ""
	}
	even, odd := 0, 0
	for i := 0; i < n; i += 2 {
		if data[i] == 0 {
			even++
		}
		if data[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*7 && even*10 < pairs:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le"
	case even*10 >= pairs*7 && odd*10 < pairs:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be"
	}
	return nil, ""
}
