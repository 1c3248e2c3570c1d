package sim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func embedSim() *Sim {
	return New("testsim", 42, map[string]config.SimModel{embedModel: {Kind: "embedding"}})
}

func TestEmbedSemantics(t *testing.T) {
	s := embedSim()
	inputs := []string{
		"The cat sat on the mat.",
		"A cat was sitting on the mat",
		"Quarterly revenue grew strongly in European markets.",
		"How do I reset my password?",
		"I forgot my password, how can I reset it?",
		"Bake the bread at 200 degrees for forty minutes.",
		"THE CAT SAT ON THE MAT!",
		"Ünïcödé façade café",
		"!!!",
	}
	resp, err := s.Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: inputs})
	if err != nil {
		t.Fatal(err)
	}
	v := resp.Vectors
	if len(v) != len(inputs) || resp.Model != embedModel {
		t.Fatalf("%d vectors for %d inputs", len(v), len(inputs))
	}
	for i := range v {
		if len(v[i]) != defaultDimensions || math.Abs(norm(v[i])-1) > 1e-5 {
			t.Errorf("vector %d: %d dimensions, norm %f", i, len(v[i]), norm(v[i]))
		}
	}
	similar := [][2]int{{0, 1}, {3, 4}}
	for _, p := range similar {
		for other := range inputs {
			if other == p[0] || other == p[1] || other == 6 {
				continue
			}
			if near, far := cosine(v[p[0]], v[p[1]]), cosine(v[p[0]], v[other]); near <= far+0.2 {
				t.Errorf("cos(%q, %q) = %.3f is not well above cos with %q = %.3f", inputs[p[0]], inputs[p[1]], near, inputs[other], far)
			}
		}
	}
	if c := cosine(v[0], v[6]); c < 0.9999 {
		t.Errorf("case and punctuation change the embedding: cos = %f", c)
	}
	want := 0
	for _, in := range inputs {
		want += textTokens(in)
	}
	if resp.Usage.PromptTokens != want || resp.Usage.TotalTokens != want || resp.Usage.CompletionTokens != 0 {
		t.Errorf("usage = %+v, want %d prompt tokens", resp.Usage, want)
	}

	// Deterministic: the same seed gives the same vectors, another seed
	// another space.
	again, _ := embedSim().Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: inputs[:1]})
	if !slices.Equal(again.Vectors[0], v[0]) {
		t.Error("the same seed gave another vector")
	}
	other, _ := New("testsim", 43, map[string]config.SimModel{embedModel: {Kind: "embedding"}}).
		Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: inputs[:1]})
	if slices.Equal(other.Vectors[0], v[0]) {
		t.Error("another seed gave the same vector")
	}
}

func TestEmbedDimensions(t *testing.T) {
	s := embedSim()
	full, err := s.Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: []string{"a text to shorten", "x"}})
	if err != nil {
		t.Fatal(err)
	}
	short, err := s.Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: []string{"a text to shorten", "x"}, Dimensions: 32})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range short.Vectors {
		if len(v) != 32 || math.Abs(norm(v)-1) > 1e-5 {
			t.Errorf("vector %d: %d dimensions, norm %f", i, len(v), norm(v))
		}
	}
	// A shorter vector is the full one cut and normalised again.
	cut := slices.Clone(full.Vectors[0][:32])
	normalise(cut, 0)
	if cosine(cut, short.Vectors[0]) < 0.9999 {
		t.Errorf("32 dimensions are not the first 32 normalised:\n%v\n%v", cut, short.Vectors[0])
	}
}

func TestHandlerEmbeddings(t *testing.T) {
	s := newTestSim(t, nil)
	srv := newServer(t, s)
	var floats, b64 struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string    `json:"model"`
		Usage llm.Usage `json:"usage"`
	}
	resp, body := post(t, srv.Client(), srv.URL+"/v1/embeddings", `{"model":"embed","input":["first text","second text"],"dimensions":16}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &floats); err != nil {
		t.Fatal(err)
	}
	resp, body = post(t, srv.Client(), srv.URL+"/v1/embeddings", `{"model":"embed","input":["first text","second text"],"dimensions":16,"encoding_format":"base64"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &b64); err != nil {
		t.Fatal(err)
	}
	if floats.Object != "list" || floats.Model != embedModel || len(floats.Data) != 2 || floats.Usage.PromptTokens != 6 || floats.Usage.TotalTokens != 6 {
		t.Fatalf("response = %s", body)
	}
	inproc, err := s.Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: []string{"first text", "second text"}, Dimensions: 16})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var f []float32
		if err := json.Unmarshal(floats.Data[i].Embedding, &f); err != nil {
			t.Fatal(err)
		}
		var enc string
		if err := json.Unmarshal(b64.Data[i].Embedding, &enc); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(raw) != 16*4 {
			t.Fatalf("base64 %q: %v", enc, err)
		}
		decoded := make([]float32, 16)
		for j := range decoded {
			decoded[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		if floats.Data[i].Index != i || floats.Data[i].Object != "embedding" ||
			!slices.Equal(f, decoded) || !slices.Equal(f, inproc.Vectors[i]) {
			t.Errorf("item %d: float %v, base64 %v, in-process %v", i, f, decoded, inproc.Vectors[i])
		}
	}

	// One string, and token ids.
	for _, in := range []string{`"one string"`, `[1, 2, 3]`, `[[1, 2], [3]]`} {
		resp, body := post(t, srv.Client(), srv.URL+"/v1/embeddings", `{"model":"embed","input":`+in+`}`)
		if resp.StatusCode != 200 {
			t.Errorf("input %s: %d %s", in, resp.StatusCode, body)
		}
	}
}
