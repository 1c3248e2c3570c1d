package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// b64 encodes v as OpenAI's base64 embedding: little-endian float32s.
func b64(enc *base64.Encoding, v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return enc.EncodeToString(b)
}

func TestEmbed(t *testing.T) {
	v0 := []float32{0.1, -2.5, 3e-7, float32(math.Pi)}
	v1 := []float32{1, 2, 3, 4}
	v2 := []float32{-0.5, 0, 0.25, 1e9}
	for _, c := range []struct {
		name string
		data string
	}{
		{"floats out of order", fmt.Sprintf(`[{"object":"embedding","index":2,"embedding":%s},{"index":0,"embedding":%s},{"index":1,"embedding":%s}]`,
			jsonOf(v2), jsonOf(v0), jsonOf(v1))},
		{"base64 out of order", fmt.Sprintf(`[{"index":1,"embedding":%q},{"index":2,"embedding":%q},{"index":0,"embedding":%q}]`,
			b64(base64.StdEncoding, v1), b64(base64.StdEncoding, v2), b64(base64.StdEncoding, v0))},
		{"base64 without padding, no indexes", fmt.Sprintf(`[{"embedding":%q},{"embedding":%q},{"embedding":%q}]`,
			b64(base64.RawStdEncoding, v0), b64(base64.RawStdEncoding, v1), b64(base64.RawStdEncoding, v2))},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"object":"list","data":` + c.data + `,"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`
			u := newUpstream(t, serveBytes(200, "application/json", []byte(body)))
			req := &llm.EmbedRequest{
				Model: "text-embedding-3-small",
				Input: []string{"a", "b", "c"},
				Body:  []byte(`{"model":"emb","input":["a","b","c"],"encoding_format":"base64","x_extra":[1]}`),
			}
			got, err := u.client(t).Embed(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Vectors) != fmt.Sprint([][]float32{v0, v1, v2}) {
				t.Errorf("vectors %v", got.Vectors)
			}
			if got.Model != "text-embedding-3-small" || got.Usage != (llm.Usage{PromptTokens: 8, TotalTokens: 8}) {
				t.Errorf("model %q usage %+v", got.Model, got.Usage)
			}
			r := u.last(t)
			if r.Path != "/v1/embeddings" {
				t.Errorf("path %s", r.Path)
			}
			if want := `{"model":"text-embedding-3-small","input":["a","b","c"],"encoding_format":"base64","x_extra":[1]}`; string(r.Body) != want {
				t.Errorf("body %s, want %s", r.Body, want)
			}
		})
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestEmbedBadAnswers(t *testing.T) {
	for _, c := range []struct {
		name, body string
		kind       llm.Kind
	}{
		{"count mismatch", `{"data":[{"index":0,"embedding":[1]}]}`, llm.KindServer},
		{"repeated index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`, llm.KindServer},
		{"index out of range", `{"data":[{"index":0,"embedding":[1]},{"index":5,"embedding":[2]}]}`, llm.KindServer},
		{"base64 not whole floats", `{"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":"AAA="}]}`, llm.KindServer},
		{"bad base64", `{"data":[{"index":0,"embedding":"!!!!"},{"index":1,"embedding":[1]}]}`, llm.KindServer},
		{"no data", `{"object":"list"}`, llm.KindServer},
		{"missing embedding", `{"data":[{"index":0},{"index":1,"embedding":[1]}]}`, llm.KindServer},
		{"error in a 200", `{"error":{"message":"model not found","code":"model_not_found"}}`, llm.KindNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUpstream(t, serveBytes(200, "application/json", []byte(c.body)))
			_, err := u.client(t).Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
			if e := llmError(t, err, "m"); e.Kind != c.kind {
				t.Errorf("kind %s, want %s (%v)", e.Kind, c.kind, err)
			}
		})
	}
}
