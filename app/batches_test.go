package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// chatLines is an input file of n chat requests to model.
func chatLines(n int, model string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"custom_id":"req-%d","method":"POST","url":"/v1/chat/completions","body":{"model":%q,"messages":[{"role":"user","content":"hello %d"}]}}`+"\n", i, model, i)
	}
	return b.String()
}

func uploadBatchFile(t *testing.T, c openai.Client, content string) string {
	t.Helper()
	f, err := c.Files.New(context.Background(), openai.FileNewParams{File: openai.File(strings.NewReader(content), "input.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	return f.ID
}

// waitBatch polls a batch until it is done.
func waitBatch(t *testing.T, c openai.Client, id string) *openai.Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := c.Batches.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch b.Status {
		case openai.BatchStatusCompleted, openai.BatchStatusFailed, openai.BatchStatusExpired, openai.BatchStatusCancelled:
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s still %s", id, b.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outputLine is a line of a batch's output or error file.
type outputLine struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		RequestID  string          `json:"request_id"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func readOutput(t *testing.T, c openai.Client, fileID string) map[string]outputLine {
	t.Helper()
	if fileID == "" {
		return nil
	}
	resp, err := c.Files.Content(context.Background(), fileID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]outputLine{}
	for l := range strings.Lines(string(b)) {
		var o outputLine
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		if _, dup := out[o.CustomID]; dup {
			t.Errorf("custom_id %s twice in the output", o.CustomID)
		}
		out[o.CustomID] = o
	}
	return out
}

// A batch of chat requests runs through the gateway to completion: every
// line's response is in the output file once, and a line the gateway
// refuses (an unknown model) is in the error file with its response.
func TestSDKBatchCompletes(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	input := chatLines(6, "chat") + `{"custom_id":"bad-model","method":"POST","url":"/v1/chat/completions","body":{"model":"nope","messages":[{"role":"user","content":"hi"}]}}` + "\n"
	created, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: uploadBatchFile(t, c, input),
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h,
		Metadata: map[string]string{"job": "nightly"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != openai.BatchStatusValidating || created.RequestCounts.Total != 7 || created.Metadata["job"] != "nightly" ||
		created.ExpiresAt-created.CreatedAt != 24*3600 {
		t.Errorf("created %+v", created)
	}
	b := waitBatch(t, c, created.ID)
	if b.Status != openai.BatchStatusCompleted || b.RequestCounts.Total != 7 || b.RequestCounts.Completed != 6 || b.RequestCounts.Failed != 1 ||
		b.InProgressAt == 0 || b.FinalizingAt == 0 || b.CompletedAt == 0 || b.OutputFileID == "" || b.ErrorFileID == "" {
		t.Fatalf("batch %+v", b)
	}
	out := readOutput(t, c, b.OutputFileID)
	if len(out) != 6 {
		t.Fatalf("%d output lines, want 6", len(out))
	}
	for i := range 6 {
		o, ok := out[fmt.Sprintf("req-%d", i)]
		if !ok || o.Response == nil || o.Response.StatusCode != 200 || o.Response.RequestID == "" || o.Error != nil {
			t.Errorf("line %d: %+v", i, o)
			continue
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(o.Response.Body, &cc); err != nil || len(cc.Choices) != 1 || cc.Choices[0].Message.Content == "" {
			t.Errorf("line %d body %s: %v", i, o.Response.Body, err)
		}
	}
	errs := readOutput(t, c, b.ErrorFileID)
	if e, ok := errs["bad-model"]; len(errs) != 1 || !ok || e.Response == nil || e.Response.StatusCode != http.StatusNotFound {
		t.Errorf("error file %+v", errs)
	}
	f, err := c.Files.Get(ctx, b.OutputFileID)
	if err != nil || f.Purpose != "batch_output" {
		t.Errorf("output file %+v %v", f, err)
	}

	// Embeddings too; and the list pages newest first.
	emb := `{"custom_id":"e1","method":"POST","url":"/v1/embeddings","body":{"model":"embed","input":"one"}}
{"custom_id":"e2","method":"POST","url":"/v1/embeddings","body":{"model":"embed","input":["two","three"]}}
`
	eb, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: uploadBatchFile(t, c, emb),
		Endpoint: openai.BatchNewParamsEndpointV1Embeddings, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	eb = waitBatch(t, c, eb.ID)
	eout := readOutput(t, c, eb.OutputFileID)
	if eb.Status != openai.BatchStatusCompleted || len(eout) != 2 || eb.ErrorFileID != "" {
		t.Fatalf("embeddings batch %+v, output %+v", eb, eout)
	}
	var ce openai.CreateEmbeddingResponse
	if err := json.Unmarshal(eout["e2"].Response.Body, &ce); err != nil || len(ce.Data) != 2 || len(ce.Data[0].Embedding) != 8 {
		t.Errorf("embeddings body %s: %v", eout["e2"].Response.Body, err)
	}
	page, err := c.Batches.List(ctx, openai.BatchListParams{Limit: openai.Int(1)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != eb.ID || !page.HasMore {
		t.Fatalf("first page %+v %v", page, err)
	}
	page, err = c.Batches.List(ctx, openai.BatchListParams{Limit: openai.Int(10), After: openai.String(eb.ID)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != b.ID || page.HasMore {
		t.Errorf("second page %+v %v", page, err)
	}
}

// A batch cancelled while it runs stops: it is cancelled, and its output
// file holds the lines that completed, each once.
func TestSDKBatchCancel(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: uploadBatchFile(t, c, chatLines(200, "slow")),
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cb, err := c.Batches.Cancel(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != openai.BatchStatusCancelling && cb.Status != openai.BatchStatusCancelled {
		t.Errorf("after cancel: %s", cb.Status)
	}
	done := waitBatch(t, c, b.ID)
	if done.Status != openai.BatchStatusCancelled || done.CancellingAt == 0 || done.CancelledAt == 0 {
		t.Fatalf("batch %+v", done)
	}
	if n := done.RequestCounts.Completed; n == 0 || n >= 200 {
		t.Errorf("%d lines completed; want some, not all", n)
	}
	if out := readOutput(t, c, done.OutputFileID); len(out) != int(done.RequestCounts.Completed) {
		t.Errorf("%d output lines for %d completed", len(out), done.RequestCounts.Completed)
	}
	var apiErr *openai.Error
	if _, err := c.Batches.Cancel(ctx, b.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Errorf("cancelling a cancelled batch: %v", err)
	}
}

// A file with bad lines makes a batch that failed, with each problem and
// its line; a file that cannot be a batch's input is a 400.
func TestSDKBatchBadInput(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	bad := `{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"chat","messages":[]}}
not json
{"custom_id":"b","method":"POST","url":"/v1/embeddings","body":{}}
{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"chat","messages":[]}}
`
	b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: uploadBatchFile(t, c, bad),
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != openai.BatchStatusFailed || b.FailedAt == 0 || len(b.Errors.Data) != 3 {
		t.Fatalf("batch %+v", b)
	}
	for i, want := range []struct {
		code string
		line int64
	}{{"invalid_json_line", 2}, {"mismatched_url", 3}, {"duplicate_custom_id", 4}} {
		if e := b.Errors.Data[i]; e.Code != want.code || e.Line != want.line {
			t.Errorf("error %d: %+v, want %s on line %d", i, e, want.code, want.line)
		}
	}

	notBatch, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(chatLines(1, "chat")), "in.jsonl", "text/plain"),
		Purpose: openai.FilePurposeAssistants})
	if err != nil {
		t.Fatal(err)
	}
	good := uploadBatchFile(t, c, chatLines(1, "chat"))
	for name, p := range map[string]openai.BatchNewParams{
		"purpose":  {InputFileID: notBatch.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h},
		"missing":  {InputFileID: "file-nope", Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h},
		"endpoint": {InputFileID: good, Endpoint: openai.BatchNewParamsEndpointV1Moderations, CompletionWindow: openai.BatchNewParamsCompletionWindow24h},
		"window":   {InputFileID: good, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: "1h"},
	} {
		var apiErr *openai.Error
		if _, err := c.Batches.New(ctx, p); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %v, want a 400", name, err)
		}
	}
}

// Another tenant's key sees none of a tenant's batches, cannot cancel
// them, read their output, or make a batch of the tenant's file.
func TestSDKBatchTenantIsolation(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	in := uploadBatchFile(t, c, chatLines(2, "chat"))
	b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: in,
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	b = waitBatch(t, c, b.ID)
	if b.Status != openai.BatchStatusCompleted {
		t.Fatalf("batch %+v", b)
	}
	_, secret := createKey(t, ts, `{"id":"globex","name":"Globex"}`, `{"tenant_id":"globex","name":"app"}`)
	other := openai.NewClient(option.WithBaseURL(ts.url+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0))
	var apiErr *openai.Error
	if _, err := other.Batches.Get(ctx, b.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant read the batch: %v", err)
	}
	if _, err := other.Batches.Cancel(ctx, b.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant cancelled the batch: %v", err)
	}
	if _, err := other.Files.Content(ctx, b.OutputFileID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant read the output: %v", err)
	}
	if page, err := other.Batches.List(ctx, openai.BatchListParams{}); err != nil || len(page.Data) != 0 {
		t.Errorf("another tenant lists %+v %v", page, err)
	}
	if _, err := other.Batches.New(ctx, openai.BatchNewParams{InputFileID: in,
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("another tenant made a batch of the file: %v", err)
	}
	// Its own batch runs as its own key.
	ob, err := other.Batches.New(ctx, openai.BatchNewParams{InputFileID: uploadBatchFile(t, other, chatLines(1, "chat")),
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	if ob = waitBatch(t, other, ob.ID); ob.Status != openai.BatchStatusCompleted || ob.RequestCounts.Completed != 1 {
		t.Errorf("other tenant's batch %+v", ob)
	}
}

// Replicas sharing Postgres: a batch made on one replica of a file
// uploaded on another runs to completion with each line once, as the key
// that made it (its usage is the key's, in the shared ledger).
func TestScaledBatchAcrossReplicas(t *testing.T) {
	replicas := scaledReplicas(t, fastConfig, 3)
	keyID, secret := createKey(t, replicas[0], `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	client := func(ts *testServer) openai.Client {
		return openai.NewClient(option.WithBaseURL(ts.url+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0))
	}
	// The key reaches the other replicas through Postgres notifications.
	deadline := time.Now().Add(2 * time.Second)
	for _, r := range replicas {
		for {
			if resp, _ := r.do(t, "GET", "/v1/models", "", "Authorization", "Bearer "+secret); resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a replica does not know the new key")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if resp, _ := replicas[0].do(t, "GET", "/v1/files", ""); resp.StatusCode == http.StatusNotFound {
		// Batches read and write the knowledge bases' files, which on
		// Postgres need pgvector (knowledge.go).
		t.Skip("the knowledge bases, and with them files and batches, are off: this Postgres has no pgvector")
	}
	const n = 30
	in := uploadBatchFile(t, client(replicas[0]), chatLines(n, "chat"))
	c1 := client(replicas[1])
	b, err := c1.Batches.New(context.Background(), openai.BatchNewParams{InputFileID: in,
		Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	b = waitBatch(t, client(replicas[2]), b.ID)
	if b.Status != openai.BatchStatusCompleted || b.RequestCounts.Completed != n {
		t.Fatalf("batch %+v", b)
	}
	if out := readOutput(t, client(replicas[0]), b.OutputFileID); len(out) != n {
		t.Errorf("%d output lines, want %d", len(out), n)
	}
	waitUsage(t, replicas[2], "tenant_id=acme&key_id="+keyID+"&group_by=key", n)
}

// A batch of Responses API requests runs through the Responses handler.
func TestSDKBatchResponses(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	in := `{"custom_id":"r1","method":"POST","url":"/v1/responses","body":{"model":"chat","input":"hello"}}
{"custom_id":"r2","method":"POST","url":"/v1/responses","body":{"model":"chat","input":"again","store":false}}
`
	b, err := c.Batches.New(context.Background(), openai.BatchNewParams{InputFileID: uploadBatchFile(t, c, in),
		Endpoint: openai.BatchNewParamsEndpointV1Responses, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	b = waitBatch(t, c, b.ID)
	out := readOutput(t, c, b.OutputFileID)
	if b.Status != openai.BatchStatusCompleted || len(out) != 2 {
		t.Fatalf("batch %+v output %+v", b, out)
	}
	var r struct {
		Object string `json:"object"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out["r1"].Response.Body, &r); err != nil || r.Object != "response" || r.Status != "completed" {
		t.Errorf("response body %s: %v", out["r1"].Response.Body, err)
	}
}
