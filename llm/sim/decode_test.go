package sim

import (
	"context"
	"net/http"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

var chatSeeds = []string{
	`{"model":"chat","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"chat","stream":true,"stream_options":{"include_usage":true},"n":3,"max_tokens":5,"seed":9,"stop":["\n"],"messages":[{"role":"system","content":null},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}]}`,
	`{"model":"chat","messages":[{"role":"tool","content":"x","tool_call_id":"c1","name":"f"}],"max_completion_tokens":2,"stop":"x"}`,
	`{"model":"embed","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"chat","messages":[]}`,
	`{"model":"chat","messages":[{"role":"user","content":"x"}],"n":0}`,
	`[1,2,3]`, `null`, `{`, `{"model":5}`, `{"messages":[{"content":{"x":1}}]}`,
}

var embedSeeds = []string{
	`{"model":"embed","input":"hello"}`,
	`{"model":"embed","input":["a","b"],"encoding_format":"base64","dimensions":8}`,
	`{"model":"embed","input":[1,2,3]}`,
	`{"model":"embed","input":[[1],[2,3]]}`,
	`{"model":"embed","input":[]}`, `{"model":"embed","input":[""]}`, `{"input":5}`, `{"model":"embed","input":[1,"a"]}`,
}

// checkDecoded holds what any decoder outcome must: either a request that
// passes validation, or a 4xx *llm.Error of kind bad request with a message.
func checkDecoded(t *testing.T, ok bool, e *llm.Error) {
	t.Helper()
	if ok == (e != nil) {
		t.Fatalf("decoder returned both or neither of a request and an error (%v)", e)
	}
	if e != nil && (e.Kind != llm.KindBadRequest || e.Status != http.StatusBadRequest || e.Message == "" || e.Type != typeInvalidRequest) {
		t.Fatalf("decoder error = %+v", e)
	}
}

func FuzzDecodeChat(f *testing.F) {
	for _, s := range chatSeeds {
		f.Add([]byte(s))
	}
	s := newTestSim(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := decodeChat(body)
		checkDecoded(t, req != nil, e)
		if req == nil {
			return
		}
		if req.Model == "" || len(req.Messages) == 0 || req.N < 0 || req.N > maxChoices || req.MaxTokens < 0 {
			t.Fatalf("decoded an invalid request: %+v", req)
		}
		// Whatever decodes, the simulator answers without panicking, and
		// every failure is an *llm.Error.
		if req.Stream {
			st, err := s.Stream(context.Background(), req)
			if err == nil {
				_, err = drain(t, st)
			}
			if err != nil {
				asLLMError(t, err)
			}
			return
		}
		if _, err := s.Chat(context.Background(), req); err != nil {
			asLLMError(t, err)
		}
	})
}

func FuzzDecodeEmbed(f *testing.F) {
	for _, s := range embedSeeds {
		f.Add([]byte(s))
	}
	s := newTestSim(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _, e := decodeEmbed(body)
		checkDecoded(t, req != nil, e)
		if req == nil {
			return
		}
		if len(req.Input) == 0 || req.Dimensions < 0 {
			t.Fatalf("decoded an invalid request: %+v", req)
		}
		if _, err := s.Embed(context.Background(), req); err != nil {
			asLLMError(t, err)
		}
	})
}
