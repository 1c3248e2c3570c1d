package bedrock

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// FuzzStream feeds arbitrary bytes as a ConverseStream body through the
// SDK's event-stream decoder and this package's event handling: whatever
// the bytes, Stream and Recv return chunks of valid JSON, then io.EOF or
// an *llm.Error, and never panic or hang.
func FuzzStream(f *testing.F) {
	full := encodeEvents(textEvents...)
	f.Add(full)
	f.Add(full[:len(full)/2])
	f.Add(corrupt(full))
	f.Add(encodeEvents(
		event{typ: "messageStart", payload: `{"role":"assistant"}`},
		event{typ: "contentBlockStart", payload: `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t","name":"f"}}}`},
		event{typ: "contentBlockDelta", payload: `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":1}"}}}`},
		event{typ: "contentBlockDelta", payload: `{"contentBlockIndex":7,"delta":{"toolUse":{"input":"x"}}}`},
		event{typ: "messageStop", payload: `{"stopReason":"tool_use"}`},
		event{typ: "metadata", payload: `{"usage":{"inputTokens":-1,"outputTokens":2147483647}}`},
	))
	f.Add(encodeEvents(event{typ: "modelStreamErrorException", exception: true, payload: `{"message":"x"}`}))
	f.Add(encodeEvents(event{typ: "contentBlockDelta", payload: `{"delta":{"text":"\u0000\ud800"}}`}))
	f.Add([]byte{})
	up := &fake{header: streamHeader}
	c := newFakeClient(f, up, Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		up.mu.Lock()
		up.body, up.paths, up.bodies = body, nil, nil
		up.mu.Unlock()
		s, err := c.Stream(t.Context(), chatRequest("m", userHi))
		if err != nil {
			asLLMError(t, err)
			return
		}
		defer s.Close()
		for range 1 + len(body) {
			ch, err := s.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				asLLMError(t, err)
				return
			}
			if !json.Valid(ch.Data) {
				t.Fatalf("chunk is not JSON: %q", ch.Data)
			}
		}
		t.Fatalf("more chunks than bytes (%d)", len(body))
	})
}

// FuzzParseEmbeddings: the InvokeModel answers of Titan and Cohere are
// decoded without panics, and a decoded answer has no empty vector.
func FuzzParseEmbeddings(f *testing.F) {
	f.Add([]byte(`{"embedding":[0.1,-0.2],"inputTextTokenCount":3}`))
	f.Add([]byte(`{"embeddings":[[0.1],[0.2]],"response_type":"embeddings_floats"}`))
	f.Add([]byte(`{"embeddings":{"float":[[1,2]]}}`))
	f.Add([]byte(`{"embeddings":[[]]}`))
	f.Add([]byte(`{"embedding":[1e999]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, n, err := parseTitan(b); err == nil && (len(v) == 0 || n < 0) {
			t.Errorf("titan: %d dims, %d tokens", len(v), n)
		}
		if vs, err := parseCohere(b); err == nil {
			for _, v := range vs {
				if len(v) == 0 {
					t.Error("cohere: an empty vector")
				}
			}
		}
		c := &Client{name: "bedrock-test"}
		var e *llm.Error
		if !errors.As(c.malformed("m", errors.New("x")), &e) {
			t.Fatal("malformed is not an *llm.Error")
		}
	})
}
