package vector_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bulwark-ai/bulwark/vector"
)

func TestSaveLoad(t *testing.T) {
	ctx := context.Background()
	ix, its := build(t, 2000, 48)
	if err := ix.Delete(ctx, []uint64{3, 30, 300}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(7, its[100].Vector); err != nil { // a replaced node
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kb.vec")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := vector.Load(path, vector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != ix.Len() || got.Watermark() != ix.Watermark() || got.Stats() != ix.Stats() {
		t.Fatalf("loaded Len/Watermark/Stats %d/%d/%+v, want %d/%d/%+v",
			got.Len(), got.Watermark(), got.Stats(), ix.Len(), ix.Watermark(), ix.Stats())
	}
	for _, q := range its[:100] {
		a, _ := ix.Search(ctx, q.Vector, 10, vector.Filter{})
		b, _ := got.Search(ctx, q.Vector, 10, vector.Filter{})
		if !slices.Equal(a, b) {
			t.Fatalf("loaded index answers %v, saved one %v", b, a)
		}
	}
	// The loaded index keeps working.
	if err := got.Add(5000, its[0].Vector); err != nil {
		t.Fatal(err)
	}
	if got.Watermark() != 5000 {
		t.Fatalf("watermark after add = %d", got.Watermark())
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(ents))
	}
}

func TestSaveLoadEmpty(t *testing.T) {
	var buf bytes.Buffer
	if _, err := vector.New(4, vector.Options{}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	ix, err := vector.Read(&buf, vector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 || ix.Dim() != 4 {
		t.Fatalf("Len %d Dim %d", ix.Len(), ix.Dim())
	}
	hits, err := ix.Search(context.Background(), []float32{1, 0, 0, 0}, 3, vector.Filter{})
	if err != nil || len(hits) != 0 {
		t.Fatalf("search of loaded empty index: %v %v", hits, err)
	}
}

func saved(t testing.TB, n int) []byte {
	ix, _ := build(t, n, 16)
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadDetectsCorruption(t *testing.T) {
	good := saved(t, 300)
	for _, at := range []int{0, 9, 30, 45, 60, len(good) / 3, len(good) / 2, len(good) - 5, len(good) - 1} {
		bad := slices.Clone(good)
		bad[at] ^= 0x40
		if _, err := vector.Read(bytes.NewReader(bad), vector.Options{}); !errors.Is(err, vector.ErrCorrupt) {
			t.Errorf("byte %d of %d flipped: err = %v, want ErrCorrupt", at, len(good), err)
		}
	}
	for _, n := range []int{0, 1, 8, 20, 52, 53, len(good) / 2, len(good) - 4, len(good) - 1} {
		if _, err := vector.Read(bytes.NewReader(good[:n]), vector.Options{}); !errors.Is(err, vector.ErrCorrupt) {
			t.Errorf("truncated to %d of %d: err = %v, want ErrCorrupt", n, len(good), err)
		}
	}
	path := filepath.Join(t.TempDir(), "kb.vec")
	if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := vector.Load(path, vector.Options{}); !errors.Is(err, vector.ErrCorrupt) {
		t.Fatalf("Load of a truncated file: %v, want ErrCorrupt", err)
	}
	if _, err := vector.Load(filepath.Join(t.TempDir(), "absent"), vector.Options{}); err == nil || errors.Is(err, vector.ErrCorrupt) {
		t.Fatalf("Load of a missing file: %v, want a not-exist error", err)
	}
}

// FuzzRead checks that no input makes Read panic or hang, and that what
// it accepts can be searched.
func FuzzRead(f *testing.F) {
	f.Add(saved(f, 40))
	f.Add([]byte("BWVECIDX"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := vector.Read(bytes.NewReader(b), vector.Options{})
		if err != nil {
			return
		}
		q := make([]float32, ix.Dim())
		q[0] = 1
		_, _ = ix.Search(context.Background(), q, 5, vector.Filter{})
	})
}
