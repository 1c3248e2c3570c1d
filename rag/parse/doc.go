// Package parse turns an uploaded file of a knowledge base into a
// Document: its text as ordered Markdown blocks (headings as "#", lists
// as "- ", tables as Markdown tables, code fenced), each with the heading
// path it is under, for section citations, and its page, for PDFs.
//
// It owns finding a file's real type from its content, decoding its text
// and the errors that become a file's last_error in the Vector Stores API.
//
// # Formats
//
// Parse reads PDF, HTML, Markdown, plain text, DOCX, CSV and JSON. The
// content decides the format: "%PDF-" at the start is a PDF, a zip with
// word/document.xml a DOCX, text starting with an HTML tag HTML, valid
// JSON starting with { or [ JSON. The extension or declared content type
// only chooses between Markdown, CSV and plain text, which content cannot
// tell apart. A file whose name lies is read as what it is (HTML named
// .pdf is HTML) or refused as ErrUnsupported when it is binary.
//
// Text formats are decoded from a byte-order mark, UTF-16 without one,
// an HTML charset declaration, UTF-8, or else windows-1252 (which is how
// browsers read Latin-1).
//
// # Invariants
//
//   - Parse returns a Document with at least one block, no block blank,
//     or an *Error that matches exactly one of ErrEmpty, ErrNoText,
//     ErrScanned, ErrEncrypted, ErrTooLarge, ErrUnsupported and
//     ErrMalformed with errors.Is. A document is never empty: a PDF
//     without a text layer is ErrScanned, an HTML page of scripts
//     ErrNoText.
//   - A block's Page is 0 unless the document is a PDF, else 1..Pages.
//   - No input crashes or hangs the process: Limits bound the bytes read,
//     what a DOCX may inflate to (in all, and by ratio, against zip
//     bombs), the pages and memory of a PDF and the time of one parse;
//     a panic in a parser becomes ErrMalformed.
//
// # Libraries, and what is written here
//
// PDF is read by PDFium (github.com/klippa-app/go-pdfium) compiled to
// WebAssembly and run by wazero: pure Go, no cgo, the best text
// extraction available to Go (CID fonts, rotated pages, broken files it
// repairs, encryption it reports), and a sandbox: the engine has no file
// system, its memory is capped by Limits.MaxMemory, and a parse past its
// deadline is stopped by closing its module. Compiling the module takes
// some seconds once per process (a Parser's engine, or the shared one
// Parse uses, compiles on its first PDF; a compilation cache is shared).
// github.com/ledongthuc/pdf, the pure-Go text extractor, was tried on the
// shared test documents: it found no text in a1977-backus-p21.pdf (PDFium:
// 4,800 characters), 216 characters of reliance.pdf's 8,000, garbled an
// embedded-CMap font and ran words together ("AUnifiedToolkitforDeep")
// in two papers. pdfcpu extracts content streams, not text. PDF text has
// no headings: one block per page, in PDFium's reading order.
//
// HTML is parsed by golang.org/x/net/html and Markdown's headings found by
// github.com/yuin/goldmark (so a "#" in a code block is not a heading);
// a Markdown file keeps its own text. Encodings come from golang.org/x/text
// and x/net/html/charset. CSV and JSON use the standard library.
//
// DOCX is read here with archive/zip and encoding/xml: the Go DOCX
// libraries either write documents only, drop tables and numbering, or
// read the whole archive with no bound on what it inflates to. Headings
// come from paragraph styles (heading N, Title, outline levels), list
// items from numbering, tables become Markdown tables; headers and
// footers follow the body, deleted text and field codes are left out.
//
// Parse and Parser are safe for concurrent use.
//
// parse imports nothing of Bulwark's; it must not import the gateway,
// storage, embedding or HTTP packages. rag/chunk builds on it.
package parse
