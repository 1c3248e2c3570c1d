package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestVectorStoreExportImport: GET /v1/vector_stores/{id}/export and POST
// /v1/vector_stores/import move a store, searchable at once; another
// tenant's store is a 404 and a body that is not an export a 400.
func TestVectorStoreExportImport(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("handbook")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
		File:    openai.File(strings.NewReader(handbook), "handbook.md", "text/markdown"),
		Purpose: openai.FilePurposeAssistants,
	}, 20); err != nil {
		t.Fatal(err)
	}
	resp, export := ts.do(t, "GET", "/v1/vector_stores/"+store.ID+"/export", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || strings.Count(string(export), "\n") != 2 {
		t.Fatalf("export: %d %v %.200s", resp.StatusCode, resp.Header, export)
	}
	resp, body := ts.do(t, "POST", "/v1/vector_stores/import?name=copy", string(export), "Content-Type", "application/x-ndjson")
	var moved struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		FileCounts struct {
			Completed int `json:"completed"`
		} `json:"file_counts"`
	}
	if err := json.Unmarshal(body, &moved); err != nil || resp.StatusCode != 200 || moved.Name != "copy" || moved.FileCounts.Completed != 1 {
		t.Fatalf("import: %d %s", resp.StatusCode, body)
	}
	res, err := c.VectorStores.Search(ctx, moved.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("Who answers pages?")}})
	if err != nil || len(res.Data) == 0 || res.Data[0].Filename != "handbook.md" {
		t.Fatalf("search of the imported store: %v %+v", err, res)
	}
	_, other := createKey(t, ts, `{"id":"other"}`, `{"tenant_id":"other","name":"app"}`)
	resp, body = ts.do(t, "GET", "/v1/vector_stores/"+store.ID+"/export", "", "Authorization", "Bearer "+other)
	mustOpenAIError(t, resp, body, 404, "not_found")
	resp, body = ts.do(t, "POST", "/v1/vector_stores/import", "hello\n")
	mustOpenAIError(t, resp, body, 400, "")
}
