package llm

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// The grouped base64 encoding equals encoding all the bytes at once, for
// every remainder of three; the float form reads back exactly.
func TestAppendEmbeddingMatchesOneShotEncoding(t *testing.T) {
	for n := 0; n <= 7; n++ {
		v := make([]float32, n)
		var raw []byte
		for i := range v {
			v[i] = float32(i)*0.37 - 1.1
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v[i]))
		}
		var item struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		}
		if err := json.Unmarshal(AppendEmbedding(nil, 2, v, true), &item); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if want := `"` + base64.StdEncoding.EncodeToString(raw) + `"`; string(item.Embedding) != want || item.Index != 2 {
			t.Errorf("n=%d: base64 %s, want %s", n, item.Embedding, want)
		}
		if err := json.Unmarshal(AppendEmbedding(nil, 0, v, false), &item); err != nil {
			t.Fatalf("n=%d float: %v", n, err)
		}
		var got []float32
		if err := json.Unmarshal(item.Embedding, &got); err != nil || len(got) != n {
			t.Fatalf("n=%d float: %s", n, item.Embedding)
		}
		for i := range v {
			if got[i] != v[i] {
				t.Errorf("n=%d: [%d] = %v, want %v", n, i, got[i], v[i])
			}
		}
	}
}
