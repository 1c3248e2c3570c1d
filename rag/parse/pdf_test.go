package parse

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestPDFCrafted(t *testing.T) {
	data := pdfOf([]string{"Hello PDF world", "second line"}, nil, []string{"Third page"})
	doc, err := Parse(context.Background(), "x.pdf", "", bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Pages != 3 || len(doc.Blocks) != 2 {
		t.Fatalf("pages %d, blocks %+v", doc.Pages, doc.Blocks)
	}
	if doc.Blocks[0].Text != "Hello PDF world\nsecond line" || doc.Blocks[0].Page != 1 || doc.Blocks[1].Page != 3 {
		t.Errorf("blocks = %+v", doc.Blocks)
	}
}

func TestPDFScanned(t *testing.T) {
	_, err := Parse(context.Background(), "scan.pdf", "", bytes.NewReader(pdfOf(nil, nil)), Limits{})
	if !errors.Is(err, ErrScanned) || err.Error() != "pdf: no text layer (scanned document?): none of its 2 pages has text; it needs OCR" {
		t.Fatalf("err = %v, want ErrScanned", err)
	}
}

func TestPDFLimits(t *testing.T) {
	_, err := Parse(context.Background(), "x.pdf", "", bytes.NewReader(pdfOf([]string{"a"}, []string{"b"})), Limits{MaxPages: 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pages: err = %v, want ErrTooLarge", err)
	}
	// A parse whose time is up is stopped, and the engine still works.
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := Parse(ctx, "x.pdf", "", bytes.NewReader(pdfOf([]string{"a"})), Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("timeout: err = %v, want ErrTooLarge", err)
	}
	if _, err := Parse(context.Background(), "x.pdf", "", bytes.NewReader(pdfOf([]string{"a"})), Limits{}); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
}

func TestParserClose(t *testing.T) {
	p := New(Limits{})
	doc, err := p.Parse(context.Background(), "x.pdf", "", bytes.NewReader(pdfOf([]string{"own engine"})))
	if err != nil || doc.Blocks[0].Text != "own engine" {
		t.Fatalf("%v %v", doc, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPDFStoppedMidway stops a long PDF partway through its pages: the
// parse fails as too slow, and the engine goes on working.
func TestPDFStoppedMidway(t *testing.T) {
	data := readDoc(t, "failure-after-repair.pdf")
	p := New(Limits{})
	defer p.Close()
	if _, err := p.Parse(context.Background(), "warm.pdf", "", bytes.NewReader(pdfOf([]string{"warm"}))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.Parse(ctx, "long.pdf", "", bytes.NewReader(data))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	doc, err := p.Parse(context.Background(), "long.pdf", "", bytes.NewReader(data))
	if err != nil || doc.Pages != 76 {
		t.Fatalf("after a stop: %v", err)
	}
}

// TestMutatedPDFs parses a few hundred damaged PDFs: bytes changed at
// random and files cut short. FuzzParsePDF does the same with coverage,
// but slowly: under its instrumentation each new PDFium instance takes
// seconds.
func TestMutatedPDFs(t *testing.T) {
	base := pdfOf([]string{"Hello", "world"}, nil, []string{"(page three)"})
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		d := bytes.Clone(base)
		for range 1 + r.IntN(4) {
			d[r.IntN(len(d))] = byte(r.IntN(256))
		}
		checkParse(t, "x.pdf", d)
	}
	for n := 10; n < len(base); n += 37 {
		checkParse(t, "x.pdf", base[:n])
	}
}
