package local

import (
	"math"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/local/internal/surface/surfacetest"
)

// llmtest.Run needs a chat model, which this provider has not; these tests
// check what its embedding cases check, plus what is particular to a
// local model; surfacetest checks the errors. They build requests as the
// API layer decodes them.

var inputs = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Bulwark keeps generative AI applications up when their models fail.",
	"A lighthouse keeper counts the ships that pass at night.",
	"Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
}

func embed(t *testing.T, p *Embedder, input []string, dims int) *llm.EmbedResponse {
	t.Helper()
	req := surfacetest.EmbedRequest(Model, input)
	req.Dimensions = dims
	resp, err := p.Embed(t.Context(), req)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	want := dims
	if want == 0 {
		want = Dimensions
	}
	if len(resp.Vectors) != len(input) {
		t.Fatalf("%d vectors for %d inputs", len(resp.Vectors), len(input))
	}
	for i, v := range resp.Vectors {
		if len(v) != want {
			t.Fatalf("vector %d has %d dimensions, want %d", i, len(v), want)
		}
		if n := norm(v); math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d has norm %v, want 1", i, n)
		}
	}
	if resp.Model != Model {
		t.Errorf("Model %q, want %q", resp.Model, Model)
	}
	if u := resp.Usage; u.PromptTokens < len(input) || u.TotalTokens != u.PromptTokens || u.CompletionTokens != 0 {
		t.Errorf("usage %+v", u)
	}
	return resp
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s / (norm(a) * norm(b))
}

func TestEmbedOrderAndDeterminism(t *testing.T) {
	p := New("local")
	batch := embed(t, p, inputs, 0).Vectors
	for i, in := range inputs {
		single := embed(t, p, []string{in}, 0).Vectors[0]
		for j := range single {
			if single[j] != batch[i][j] {
				t.Fatalf("input %d: embedded alone, component %d is %v; in a batch %v", i, j, single[j], batch[i][j])
			}
		}
	}
	again := embed(t, New("other"), inputs, 0).Vectors
	for i := range batch {
		if !equal(batch[i], again[i]) {
			t.Errorf("vector %d differs between calls", i)
		}
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestEmbedUsage(t *testing.T) {
	resp := embed(t, New("local"), []string{"Three little words", "one", "—"}, 0)
	if got := resp.Usage.PromptTokens; got != 3+1+1 {
		t.Errorf("PromptTokens %d, want 5 (a word-less input counts one)", got)
	}
}

// TestEmbedMeaning checks that the vectors carry meaning, not only words:
// texts about the same thing in different words are closer than texts
// about different things.
func TestEmbedMeaning(t *testing.T) {
	v := embed(t, New("local"), []string{
		"The car would not start this morning.",
		"My automobile engine failed to turn over at dawn.",
		"Bananas are rich in potassium and taste sweet.",
		"The stock market fell sharply after the central bank raised interest rates.",
		"Shares dropped when the Federal Reserve increased borrowing costs.",
	}, 0).Vectors
	if same, other := cosine(v[0], v[1]), cosine(v[0], v[2]); same <= other {
		t.Errorf("car~automobile %.3f, car~banana %.3f", same, other)
	}
	if same, other := cosine(v[3], v[4]), cosine(v[3], v[1]); same <= other {
		t.Errorf("market~shares %.3f, market~automobile %.3f", same, other)
	}
}

// TestEmbedDimensions checks that fewer dimensions are the leading
// dimensions of the full vector, normalised again.
func TestEmbedDimensions(t *testing.T) {
	p := New("local")
	full := embed(t, p, inputs, 0).Vectors
	for _, dims := range []int{1, 16, 64, Dimensions} {
		short := embed(t, p, inputs, dims).Vectors
		for i := range short {
			prefix := append([]float32(nil), full[i][:dims]...)
			normalise(prefix)
			if c := cosine(prefix, short[i]); c < 1-1e-6 {
				t.Errorf("dims %d, vector %d: cosine %.7f with the normalised prefix", dims, i, c)
			}
		}
	}
}

// TestSurface runs the provider surface's conformance suite: bad
// requests, chat refused, unknown models, a caller that has gone.
func TestSurface(t *testing.T) {
	surfacetest.Run(t, New("local"), Model, Dimensions, inputs)
}

// TestEmbedUnknownWords checks texts without a word the table knows: they
// still get deterministic unit vectors, and equal texts match.
func TestEmbedUnknownWords(t *testing.T) {
	p := New("local")
	v := embed(t, p, []string{"qzxvkj wplmrt", "qzxvkj wplmrt", "zzyzxq", "!!! ???", "!!! ???", "..."}, 0).Vectors
	if !equal(v[0], v[1]) || !equal(v[3], v[4]) {
		t.Error("equal texts got different vectors")
	}
	if equal(v[0], v[2]) || equal(v[3], v[5]) {
		t.Error("different texts got the same vector")
	}
}

// TestEmbedConcurrent embeds from many goroutines at once (run with -race)
// and checks every answer against the sequential one.
func TestEmbedConcurrent(t *testing.T) {
	p := New("local")
	want := embed(t, p, inputs, 0).Vectors
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 20 {
				i := g % len(inputs)
				resp, err := p.Embed(t.Context(), surfacetest.EmbedRequest(Model, inputs[i:i+1]))
				if err != nil {
					t.Error(err)
					return
				}
				if !equal(resp.Vectors[0], want[i]) {
					t.Errorf("goroutine %d: vector differs", g)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDecodeTableRejectsDamage(t *testing.T) {
	good, err := loadTable()
	if err != nil {
		t.Fatal(err)
	}
	if good.dims != Dimensions {
		t.Fatalf("table has %d dimensions, Dimensions says %d", good.dims, Dimensions)
	}
	for name, b := range map[string]string{
		"Empty":     "",
		"BadMagic":  "BWGLOVE0" + gloveBin[8:],
		"Truncated": gloveBin[:len(gloveBin)-1],
		"CutWords":  gloveBin[:4096],
		"Longer":    gloveBin + "x",
	} {
		if _, err := decodeTable(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzEmbed checks that any text embeds to a finite unit vector.
func FuzzEmbed(f *testing.F) {
	for _, s := range append(inputs, "ÄÖÜ straße", "日本語のテキスト", "\xff\xfe", "a\x00b", "1999 2024") {
		f.Add(s)
	}
	tab, err := loadTable()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := newEmbedder(tab)
		v := make([]float32, Dimensions)
		if n := e.vector(s, v); n < 1 {
			t.Fatalf("%d tokens", n)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("component %v", x)
			}
		}
		if n := norm(v); math.Abs(n-1) > 1e-4 {
			t.Fatalf("norm %v", n)
		}
	})
}
