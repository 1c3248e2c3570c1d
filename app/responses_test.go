package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	rstore "github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/responses/responsestest"
	"github.com/bulwark-ai/bulwark/tenant"
)

// The official OpenAI Go SDK drives the Responses API against the
// simulator: a plain answer, a conversation continued with
// previous_response_id, GET and DELETE, a stream of typed events, a
// tenant that sees nothing of another's, and the usage ledger recording
// each call as a chat completion would be.
func TestSDKResponses(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model:        "chat",
		Instructions: openai.String("Be brief."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("My name is Ada.")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.ID, "resp_") || first.Status != responses.ResponseStatusCompleted || first.OutputText() == "" ||
		first.Usage.OutputTokens != 5 || first.Usage.InputTokens == 0 || first.Usage.TotalTokens != first.Usage.InputTokens+5 ||
		len(first.Output) != 1 || first.Output[0].Type != "message" || first.Instructions.OfString != "Be brief." {
		t.Fatalf("first response %+v", first)
	}

	second, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model:              "chat",
		PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("What is my name?", responses.EasyInputMessageRoleUser),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The conversation went upstream: the first turn's question and
	// answer are in the second's prompt.
	if second.PreviousResponseID != first.ID || second.Usage.InputTokens <= first.Usage.OutputTokens+3 {
		t.Errorf("second response %+v (first used %d input tokens)", second.Usage, first.Usage.InputTokens)
	}

	got, err := c.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
	if err != nil || got.ID != first.ID || got.OutputText() != first.OutputText() {
		t.Fatalf("get: %+v %v", got, err)
	}

	// Another tenant's key finds neither the response nor its conversation.
	_, secret := createKey(t, ts, `{"id":"globex","name":"Globex"}`, `{"tenant_id":"globex","name":"app"}`)
	other := openai.NewClient(option.WithBaseURL(ts.url+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0))
	var apiErr *openai.Error
	if _, err := other.Responses.Get(ctx, first.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant read the response: %v", err)
	}
	_, err = other.Responses.New(ctx, responses.ResponseNewParams{Model: "sim-chat", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Who?")}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "previous_response_not_found" {
		t.Errorf("another tenant continued the conversation: %v", err)
	}

	// A stream: typed events in order, the deltas adding up to the text.
	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model: "chat", PreviousResponseID: openai.String(second.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Tell me more.")},
	})
	var types []string
	var text string
	var done responses.Response
	seq := int64(0)
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != seq {
			t.Errorf("event %s has sequence_number %d, want %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq++
		if len(types) == 0 || types[len(types)-1] != ev.Type {
			types = append(types, ev.Type)
		}
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.completed":
			done = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("events %v", types)
	}
	if text == "" || done.OutputText() != text || done.Status != responses.ResponseStatusCompleted || done.Usage.OutputTokens != 5 {
		t.Errorf("streamed %q, completed %+v", text, done)
	}
	if got, err := c.Responses.Get(ctx, done.ID, responses.ResponseGetParams{}); err != nil || got.OutputText() != text {
		t.Errorf("streamed response stored: %+v %v", got, err)
	}

	if err := c.Responses.Delete(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Responses.Get(ctx, first.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("after delete: %v", err)
	}

	// Each answer is billed through the gateway as a chat completion is:
	// three in the ledger, the refused continuation none.
	if u := waitUsage(t, ts, "group_by=alias", 3); len(u.Data) != 1 || u.Data[0].CompletionTokens != 15 {
		t.Errorf("usage %+v", u.Data)
	}
}

// A Claude target answers a Responses request with function tools: the
// tool call is a function_call item, and its output sent back with
// previous_response_id gets the answer, which a Gemini target continues;
// streamed, the arguments come as their delta and done events.
func TestResponsesFunctionToolsOnClaude(t *testing.T) {
	_, cfg := vendorSim(t)
	ts := start(t, cfg)
	c := sdk(ts)
	ctx := context.Background()
	tool := responses.ToolParamOfFunction("lookup", map[string]any{"type": "object", "properties": map[string]any{"text": map[string]any{"type": "string"}}}, false)
	res, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "assistant",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Look it up")},
		Tools: []responses.ToolUnionParam{tool},
		ToolChoice: responses.ResponseNewParamsToolChoiceUnion{
			OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: "lookup"},
		},
	}, option.WithResponseInto(new(*http.Response)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 1 || res.Output[0].Type != "function_call" {
		t.Fatalf("output %+v", res.Output)
	}
	fc := res.Output[0].AsFunctionCall()
	if fc.Name != "lookup" || fc.CallID == "" || !strings.HasPrefix(fc.Arguments, `{"text":`) {
		t.Fatalf("function call %+v", fc)
	}

	answer, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model:              "assistant",
		PreviousResponseID: openai.String(res.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: openai.String(fc.CallID), Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String(`{"found":true}`)},
			}},
		}},
		Tools: []responses.ToolUnionParam{tool},
	})
	if err != nil {
		t.Fatal(err)
	}
	if answer.OutputText() == "" || answer.Output[0].Type != "message" || answer.Usage.OutputTokens != 6 {
		t.Errorf("answer after the tool output %+v", answer)
	}

	// Gemini answers a Responses request too.
	gem, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "assistant-gemini", PreviousResponseID: openai.String(answer.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Thanks")},
	})
	if err != nil || gem.OutputText() == "" || gem.Usage.OutputTokens != 5 {
		t.Errorf("gemini: %+v %v", gem, err)
	}

	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model: "assistant",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Look it up")},
		Tools: []responses.ToolUnionParam{tool},
		ToolChoice: responses.ResponseNewParamsToolChoiceUnion{
			OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: "lookup"},
		},
	})
	var args, doneArgs string
	var completed responses.Response
	for stream.Next() {
		switch ev := stream.Current(); ev.Type {
		case "response.function_call_arguments.delta":
			args += ev.Delta
		case "response.function_call_arguments.done":
			doneArgs = ev.Arguments
		case "response.completed":
			completed = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if args == "" || args != doneArgs || len(completed.Output) != 1 || completed.Output[0].AsFunctionCall().Arguments != args {
		t.Errorf("streamed call: deltas %q, done %q, completed %+v", args, doneArgs, completed.Output)
	}
}

// file_search runs inside Bulwark over the tenant's vector store: the
// answer carries a file_search_call item and file_citation annotations
// naming the file the retrieved chunks came from.
func TestResponsesFileSearch(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("handbook")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
		File:    openai.File(strings.NewReader(handbook), "handbook.md", "text/markdown"),
		Purpose: openai.FilePurposeAssistants,
	}, 20)
	if err != nil {
		t.Fatal(err)
	}
	params := responses.ResponseNewParams{
		Model:   "chat",
		Input:   responses.ResponseNewParamsInputUnion{OfString: openai.String("Who answers pages?")},
		Tools:   []responses.ToolUnionParam{responses.ToolParamOfFileSearch([]string{store.ID})},
		Include: []responses.ResponseIncludable{responses.ResponseIncludableFileSearchCallResults},
	}
	res, err := c.Responses.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 2 || res.Output[0].Type != "file_search_call" || res.Output[1].Type != "message" {
		t.Fatalf("output %+v", res.Output)
	}
	call := res.Output[0].AsFileSearchCall()
	if call.Status != "completed" || len(call.Queries) != 1 || call.Queries[0] != "Who answers pages?" ||
		len(call.Results) == 0 || call.Results[0].FileID != f.ID || !strings.Contains(call.Results[0].Text, "on-call") {
		t.Errorf("file_search_call %+v", call)
	}
	msg := res.Output[1].AsMessage()
	anns := msg.Content[0].Annotations
	if len(anns) == 0 || anns[0].Type != "file_citation" || anns[0].FileID != f.ID || anns[0].Filename != "handbook.md" {
		t.Errorf("annotations %+v", anns)
	}

	// Streamed: the search item first, then the message, its annotation
	// announced before the text is done.
	stream := c.Responses.NewStreaming(ctx, params)
	var types []string
	for stream.Next() {
		types = append(types, stream.Current().Type)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(types, ",")
	if !strings.Contains(joined, "response.file_search_call.in_progress,response.file_search_call.searching,response.file_search_call.completed") ||
		!strings.Contains(joined, "response.output_text.annotation.added,response.output_text.done") ||
		types[len(types)-1] != "response.completed" {
		t.Errorf("events %v", types)
	}

	// A store of another tenant, or none, is a 404 naming the store.
	resp, out := ts.do(t, "POST", "/v1/responses", `{"model":"chat","input":"x","tools":[{"type":"file_search","vector_store_ids":["vs_nope"]}]}`)
	mustOpenAIError(t, resp, out, 404, "not_found")
	// A model the key may not use is refused before the search is paid for.
	resp, out = ts.do(t, "POST", "/v1/responses", `{"model":"nope","input":"x","tools":[{"type":"file_search","vector_store_ids":["`+store.ID+`"]}]}`)
	mustOpenAIError(t, resp, out, 404, "model_not_found")
}

// A stream the upstream breaks mid-answer ends with response.failed and
// an error event, never response.completed, and is not stored.
func TestResponsesStreamBroken(t *testing.T) {
	ts := start(t, `
log: {level: warn}
providers:
  fast:
    type: sim
    models:
      cut-chat: {output_tokens: {min: 8, max: 8}, faults: {cut: {rate: 1, after_tokens: 3}}}
models:
  - name: cut
    targets: [{provider: fast, model: cut-chat}]
`)
	resp, out := ts.do(t, "POST", "/v1/responses", `{"model":"cut","input":"hi","stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	body := string(out)
	failed := strings.Index(body, "event: response.failed\n")
	errEv := strings.Index(body, "event: error\n")
	if !strings.Contains(body, "event: response.output_text.delta") || failed < 0 || errEv < failed ||
		strings.Contains(body, "response.completed") || !strings.Contains(body, `"status":"failed"`) {
		t.Fatalf("broken stream:\n%s", body)
	}
	var created struct {
		Response struct{ ID string }
	}
	line := body[strings.Index(body, "data: ")+len("data: "):]
	if err := json.Unmarshal([]byte(line[:strings.Index(line, "\n")]), &created); err != nil || created.Response.ID == "" {
		t.Fatalf("response.created: %v", err)
	}
	if resp, out := ts.do(t, "GET", "/v1/responses/"+created.Response.ID, ""); resp.StatusCode != 404 {
		t.Errorf("a failed response was stored: %d %s", resp.StatusCode, out)
	}
}

// Stored responses expire after responses.retention: unreadable, then
// purged.
func TestResponsesRetention(t *testing.T) {
	ts := start(t, fastConfig+"responses: {retention: 1m}\n")
	resp, out := ts.do(t, "POST", "/v1/responses", `{"model":"chat","input":"hi"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	var r struct{ ID string }
	_ = json.Unmarshal(out, &r)
	st, err := ts.app.db.Response(t.Context(), tenant.DefaultTenant, r.ID, time.Now()) // the admin key's
	if err != nil {
		t.Fatalf("stored: %v", err)
	}
	if d := st.ExpiresAt.Sub(st.CreatedAt); d != time.Minute {
		t.Errorf("kept for %s, want 1m", d)
	}
	if _, err := ts.app.db.Response(t.Context(), st.TenantID, r.ID, time.Now().Add(2*time.Minute)); err == nil {
		t.Error("readable after its retention")
	}
	if n, err := ts.app.db.PurgeResponses(t.Context(), time.Now().Add(2*time.Minute)); err != nil || n != 1 {
		t.Errorf("purged %d: %v", n, err)
	}
	if resp, out := ts.do(t, "GET", "/v1/responses/"+r.ID, ""); resp.StatusCode != 404 {
		t.Errorf("after the purge: %d %s", resp.StatusCode, out)
	}
}

// In the scaled shape the stored responses are in Postgres: a
// conversation started on one replica continues on another, and a delete
// on one is seen by both.
func TestScaledResponsesShareConversation(t *testing.T) {
	replicas := scaledReplicas(t, fastConfig, 2)
	resp, out := replicas[0].do(t, "POST", "/v1/responses", `{"model":"chat","input":"I am Ada."}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	var first struct{ ID string }
	_ = json.Unmarshal(out, &first)
	resp, out = replicas[1].do(t, "POST", "/v1/responses", `{"model":"chat","input":"Who am I?","previous_response_id":"`+first.ID+`"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"previous_response_id":"`+first.ID+`"`) {
		t.Fatalf("continued on another replica: %d %s", resp.StatusCode, out)
	}
	if resp, out := replicas[1].do(t, "DELETE", "/v1/responses/"+first.ID, ""); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, out)
	}
	if resp, out := replicas[0].do(t, "GET", "/v1/responses/"+first.ID, ""); resp.StatusCode != 404 {
		t.Errorf("read after another replica deleted it: %d %s", resp.StatusCode, out)
	}
}

// A conversation too long for the alias's context window is a 400
// context_length_exceeded that names input, the Responses parameter.
func TestResponsesContextLength(t *testing.T) {
	ts := start(t, fastConfig+`
  - name: tiny
    targets: [{provider: fast, model: fast-chat}]
    context_window: 64
`)
	long := strings.Repeat("word ", 200)
	resp, out := ts.do(t, "POST", "/v1/responses", `{"model":"tiny","input":"`+long+`"}`)
	if e := mustOpenAIError(t, resp, out, 400, "context_length_exceeded"); e.Error.Param == nil || *e.Error.Param != "input" {
		t.Errorf("param: %s", out)
	}
}

// The purge loop removes expired responses at start, and stops when told.
func TestResponsePurgeLoop(t *testing.T) {
	mem := &responsestest.Memory{}
	now := time.Now()
	for id, exp := range map[string]time.Time{"resp_old": now.Add(-time.Minute), "resp_new": now.Add(time.Hour)} {
		if err := mem.SaveResponse(t.Context(), &rstore.Stored{ID: id, TenantID: "acme", CreatedAt: now, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	b := startResponsePurge(mem, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Read as of before it expired: found until the loop deletes it.
		if _, err := mem.Response(t.Context(), "acme", "resp_old", now.Add(-2*time.Minute)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired response was not purged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.stop()
	if _, err := mem.Response(t.Context(), "acme", "resp_new", now); err != nil {
		t.Errorf("an unexpired response was purged: %v", err)
	}
}
