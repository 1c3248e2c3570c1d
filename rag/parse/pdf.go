package parse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/klippa-app/go-pdfium"
	pdfiumerrors "github.com/klippa-app/go-pdfium/errors"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// pdfEngine is PDFium compiled to WebAssembly and run by wazero: pure Go,
// and sandboxed, so a broken PDF can trap, run out of its memory or be
// stopped, but cannot crash the process. It is built on the first PDF and
// is safe for concurrent use; each document gets its own module instance.
type pdfEngine struct {
	once sync.Once
	pool pdfium.Pool
	err  error
}

func newPDFEngine() *pdfEngine { return &pdfEngine{} }

var (
	shared = newPDFEngine()
	// compiled caches the compiled module across the engines of a process:
	// compiling PDFium takes seconds, instantiating it milliseconds.
	compiled = wazero.NewCompilationCache()
)

// sharedEngine returns the engine of the package's Parse, which lives as
// long as the process.
func sharedEngine() *pdfEngine { return shared }

func (e *pdfEngine) start(l Limits) error {
	e.once.Do(func() {
		pages := uint32(min(l.MaxMemory>>16, 65536))
		e.pool, e.err = webassembly.Init(webassembly.Config{
			MinIdle:  0,
			MaxIdle:  1,
			MaxTotal: max(1, runtime.GOMAXPROCS(0)),
			// No file system: PDFium reads only the bytes it is given.
			FSConfig: wazero.NewFSConfig(),
			Stdout:   io.Discard,
			Stderr:   io.Discard,
			RuntimeConfig: wazero.NewRuntimeConfig().
				WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling).
				WithMemoryLimitPages(pages).
				WithCloseOnContextDone(true).
				WithCompilationCache(compiled),
		})
	})
	return e.err
}

func (e *pdfEngine) close() error {
	e.once.Do(func() { e.err = errors.New("closed") })
	if e.pool == nil {
		return nil
	}
	return e.pool.Close()
}

// parse extracts the text of each page, in PDFium's reading order, one
// block per page. A page without text is skipped; a document without text
// on any page is ErrScanned.
func (e *pdfEngine) parse(ctx context.Context, data []byte, l Limits) (doc *Document, err error) {
	if err := e.start(l); err != nil {
		return nil, &Error{Format: PDF, Kind: ErrUnsupported, Detail: "the PDF engine did not start", Err: err}
	}
	inst, err := e.pool.GetInstanceWithContext(ctx)
	if err != nil {
		return nil, &Error{Format: PDF, Kind: ErrTooLarge, Detail: "no PDF engine free in time", Err: err}
	}
	// Stop the instance when ctx ends; otherwise close it when done.
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(killed)
		_ = inst.Kill()
	})
	defer func() {
		if stop() {
			_ = inst.Close()
		} else {
			<-killed
			doc, err = nil, &Error{Format: PDF, Kind: ErrTooLarge, Detail: "the parse did not finish in time", Err: ctx.Err()}
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			doc, err = nil, &Error{Format: PDF, Kind: ErrMalformed, Detail: fmt.Sprintf("the PDF engine failed: %v", v)}
		}
	}()
	return extract(inst, data, l)
}

func extract(inst pdfium.Pdfium, data []byte, l Limits) (*Document, error) {
	opened, err := inst.OpenDocument(&requests.OpenDocument{File: &data})
	if err != nil {
		if errors.Is(err, pdfiumerrors.ErrPassword) {
			return nil, &Error{Format: PDF, Kind: ErrEncrypted, Detail: "the PDF needs a password to open"}
		}
		return nil, &Error{Format: PDF, Kind: ErrMalformed, Detail: "cannot open: " + pdfiumMessage(err), Err: err}
	}
	defer inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: opened.Document})
	count, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: opened.Document})
	if err != nil {
		return nil, &Error{Format: PDF, Kind: ErrMalformed, Detail: "cannot count pages: " + pdfiumMessage(err), Err: err}
	}
	if count.PageCount > l.MaxPages {
		return nil, &Error{Format: PDF, Kind: ErrTooLarge, Detail: fmt.Sprintf("%d pages, over the limit of %d", count.PageCount, l.MaxPages)}
	}
	doc := &Document{Format: PDF, Pages: count.PageCount}
	var b builder
	for i := range count.PageCount {
		page := requests.Page{ByIndex: &requests.PageByIndex{Document: opened.Document, Index: i}}
		t, err := inst.GetPageText(&requests.GetPageText{Page: page})
		if err != nil {
			return nil, &Error{Format: PDF, Kind: ErrMalformed, Detail: fmt.Sprintf("page %d: %s", i+1, pdfiumMessage(err)), Err: err}
		}
		b.page = i + 1
		b.add(Paragraph, pageText(t.Text))
	}
	if len(b.blocks) == 0 {
		return nil, &Error{Format: PDF, Kind: ErrScanned, Detail: fmt.Sprintf("none of its %d pages has text; it needs OCR", count.PageCount)}
	}
	doc.Blocks = b.blocks
	return doc, nil
}

// pageText normalises PDFium's page text: line ends, no trailing spaces,
// no NULs, and at most one blank line in a row.
func pageText(s string) string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "", "\uFFFE", "", "\x02", "-").Replace(s)
	var out []string
	blank := false
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimRight(l, " \t")
		if strings.TrimSpace(l) == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// pdfiumMessage drops go-pdfium's numeric prefix ("3: ") from an error.
func pdfiumMessage(err error) string {
	m := err.Error()
	if i := strings.Index(m, ": "); i > 0 && i < 4 {
		return m[i+2:]
	}
	return m
}
