package gateway

import (
	"context"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// The end-to-end tests of tool governance run on the simulator, in
// chaos/tools_test.go.

const schemaFormat = `,"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":` +
	`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}}`

func toolReq(text, extra string) *llm.ChatRequest {
	body := `{"model":"t","messages":[{"role":"user","content":"` + text + `"}]` + extra + `}`
	return &llm.ChatRequest{Model: "t", Messages: []llm.Message{{Role: "user", Content: text}}, Body: []byte(body)}
}

// An upstream failure of the re-ask stays a failure.
func TestToolReaskFailureIsNotASuccess(t *testing.T) {
	p := &answering{content: "not json"}
	models := []config.Model{{Name: "t", Targets: []config.Target{{Provider: "p", Model: "m"}},
		ResponseFormat: config.ModelResponseFormat{Validate: true}, Retry: config.Retry{MaxAttempts: 1}}}
	tbl, err := route.New(models, map[string]llm.Provider{"p": &failSecond{answering: p}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := New(tbl, Options{})
	resp, _, err := g.Chat(context.Background(), tenant.Principal{}, toolReq("hi", schemaFormat))
	if llm.KindOf(err) != llm.KindBadRequest || resp == nil || resp.Body != nil || resp.Usage.PromptTokens != 7 {
		t.Fatalf("err %v, resp %+v", err, resp)
	}
}

// failSecond answers the first chat and fails every later one.
type failSecond struct {
	*answering
	n int
}

func (f *failSecond) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	if f.n++; f.n > 1 {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Status: 400, Message: "no"}
	}
	return f.answering.Chat(ctx, req)
}
