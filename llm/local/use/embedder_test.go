package use

import (
	"math"
	"strings"
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
		if n := norm2(v); math.Abs(n-1) > 1e-5 {
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

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestEmbedOrderAndDeterminism(t *testing.T) {
	p := New("local")
	batch := embed(t, p, inputs, 0).Vectors
	for i, in := range inputs {
		single := embed(t, p, []string{in}, 0).Vectors[0]
		if !equal(single, batch[i]) {
			t.Fatalf("input %d: embedded alone and in a batch, the vectors differ", i)
		}
	}
	again := embed(t, New("other"), inputs, 0).Vectors
	for i := range batch {
		if !equal(batch[i], again[i]) {
			t.Errorf("vector %d differs between calls", i)
		}
	}
}

// TestEmbedUsage checks that usage counts the tokens read, at most
// MaxTokens an input.
func TestEmbedUsage(t *testing.T) {
	long := strings.Repeat("tokens and more tokens ", 200)
	resp := embed(t, New("local"), []string{"Hello, world!", long}, 0)
	if got := resp.Usage.PromptTokens; got != 5+MaxTokens {
		t.Errorf("PromptTokens %d, want %d (5, and %d for the long input)", got, 5+MaxTokens, MaxTokens)
	}
}

// TestEmbedLongInput checks that only the first MaxTokens tokens count.
func TestEmbedLongInput(t *testing.T) {
	head := strings.Repeat("the river runs to the sea ", 30) // over MaxTokens tokens
	v := embed(t, New("local"), []string{head, head + "and then something else entirely", head[:40]}, 0).Vectors
	if !equal(v[0], v[1]) {
		t.Error("text past the first MaxTokens tokens changed the vector")
	}
	if equal(v[0], v[2]) {
		t.Error("a shorter text got the same vector")
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
		"How do I reset my password?",
		"I forgot my login credentials, how can I recover my account?",
	}, 0).Vectors
	for _, c := range []struct{ a, b, other int }{{0, 1, 2}, {3, 4, 1}, {5, 6, 3}} {
		if same, other := cosine(v[c.a], v[c.b]), cosine(v[c.a], v[c.other]); same <= other+0.1 {
			t.Errorf("texts %d~%d %.3f, %d~%d %.3f", c.a, c.b, same, c.a, c.other, other)
		}
	}
}

// TestEmbedDimensions checks that fewer dimensions are the leading
// dimensions of the full vector, normalised again.
func TestEmbedDimensions(t *testing.T) {
	p := New("local")
	full := embed(t, p, inputs, 0).Vectors
	for _, dims := range []int{1, 64, 256, Dimensions} {
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

// TestEmbedConcurrent embeds from many goroutines at once (run with -race)
// and checks every answer against the sequential one.
func TestEmbedConcurrent(t *testing.T) {
	p := New("local")
	want := embed(t, p, inputs, 0).Vectors
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 3 {
				i := (g + k) % len(inputs)
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
