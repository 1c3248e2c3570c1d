package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// teamFilter is a search filter on the team attribute.
func teamFilter(team string) openai.VectorStoreSearchParamsFiltersUnion {
	return openai.VectorStoreSearchParamsFiltersUnion{OfComparisonFilter: &shared.ComparisonFilterParam{
		Key: "team", Type: shared.ComparisonFilterTypeEq, Value: shared.ComparisonFilterValueUnionParam{OfString: openai.String(team)}}}
}

// The official SDK updates a store file's attributes, which the next
// search filters by, and reads the file's parsed content; another
// tenant's key gets 404 for both.
func TestSDKVectorStoreFileUpdateAndContent(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("handbook")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
		File: openai.File(strings.NewReader(handbook), "handbook.md", "text/markdown"), Purpose: openai.FilePurposeAssistants}, 20)
	if err != nil || f.Status != openai.VectorStoreFileStatusCompleted {
		t.Fatalf("upload: %+v %v", f, err)
	}
	search := func(team string) int {
		t.Helper()
		page, err := c.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
			Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("who answers pages")}, Filters: teamFilter(team)})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Data)
	}
	if n := search("ops"); n != 0 {
		t.Fatalf("before the update the filter admits %d results", n)
	}

	vf, err := c.VectorStores.Files.Update(ctx, store.ID, f.ID, openai.VectorStoreFileUpdateParams{
		Attributes: map[string]openai.VectorStoreFileUpdateParamsAttributeUnion{
			"team": {OfString: openai.String("ops")}, "year": {OfFloat: openai.Float(2026)}, "public": {OfBool: openai.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	if vf.ID != f.ID || vf.Object != "vector_store.file" || vf.Status != openai.VectorStoreFileStatusCompleted ||
		vf.Attributes["team"].OfString != "ops" || vf.Attributes["year"].OfFloat != 2026 || !vf.Attributes["public"].OfBool {
		t.Errorf("updated file %+v", vf)
	}
	if n := search("ops"); n == 0 {
		t.Error("after the update the filter admits nothing")
	}
	got, err := c.VectorStores.Files.Get(ctx, store.ID, f.ID)
	if err != nil || got.Attributes["team"].OfString != "ops" {
		t.Errorf("read back: %+v %v", got.Attributes, err)
	}

	content, err := c.VectorStores.Files.Content(ctx, store.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, part := range content.Data {
		if part.Type != "text" {
			t.Errorf("content part of type %q", part.Type)
		}
		text.WriteString(part.Text)
	}
	if content.Object != "vector_store.file_content.page" || !strings.Contains(text.String(), "on-call engineer answers pages") ||
		!strings.Contains(text.String(), "Train travel") || strings.Index(text.String(), "On call") > strings.Index(text.String(), "Travel") {
		t.Errorf("content %s: %q", content.Object, text.String())
	}
	resp, body := ts.do(t, "GET", "/v1/vector_stores/"+store.ID+"/files/"+f.ID+"/content", "")
	var raw map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &raw) != nil || raw["has_more"] != false || raw["next_page"] != nil {
		t.Errorf("content page %d %s", resp.StatusCode, body)
	}

	// Another tenant's key, and a file not in the store: 404.
	_, secret := createKey(t, ts, `{"id":"globex","name":"Globex"}`, `{"tenant_id":"globex","name":"app"}`)
	other := openai.NewClient(option.WithBaseURL(ts.url+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0))
	var apiErr *openai.Error
	if _, err := other.VectorStores.Files.Update(ctx, store.ID, f.ID, openai.VectorStoreFileUpdateParams{
		Attributes: map[string]openai.VectorStoreFileUpdateParamsAttributeUnion{"team": {OfString: openai.String("x")}}}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant updated the file: %v", err)
	}
	if _, err := other.VectorStores.Files.Content(ctx, store.ID, f.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant read the content: %v", err)
	}
	loose, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader("loose"), "loose.txt", "text/plain"), Purpose: openai.FilePurposeAssistants})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VectorStores.Files.Content(ctx, store.ID, loose.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("content of a file not attached: %v", err)
	}
	if got, _ := c.VectorStores.Files.Get(ctx, store.ID, f.ID); got.Attributes["team"].OfString != "ops" {
		t.Errorf("another tenant's update changed the attributes: %+v", got.Attributes)
	}
}

// file_batches takes files each with its own attributes and chunking
// strategy, which the searches filter by; file_ids keeps working.
func TestSDKFileBatchFiles(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("batch")})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(name, body string) string {
		f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(body), name, "text/markdown"), Purpose: openai.FilePurposeAssistants})
		if err != nil {
			t.Fatal(err)
		}
		return f.ID
	}
	hb := upload("handbook.md", handbook)
	notes := upload("notes.md", "# Notes\n\nThe on-call rota changes every Monday at noon.\n")
	b, err := c.VectorStores.FileBatches.NewAndPoll(ctx, store.ID, openai.VectorStoreFileBatchNewParams{
		Files: []openai.VectorStoreFileBatchNewParamsFile{
			{FileID: hb, Attributes: map[string]openai.VectorStoreFileBatchNewParamsFileAttributeUnion{"team": {OfString: openai.String("people")}},
				ChunkingStrategy: openai.FileChunkingStrategyParamOfStatic(openai.StaticFileChunkingStrategyParam{MaxChunkSizeTokens: 100, ChunkOverlapTokens: 0})},
			{FileID: notes, Attributes: map[string]openai.VectorStoreFileBatchNewParamsFileAttributeUnion{"team": {OfString: openai.String("sre")}, "rank": {OfFloat: openai.Float(2)}}},
		}}, 20)
	if err != nil || b.Status != openai.VectorStoreFileBatchStatusCompleted || b.FileCounts.Completed != 2 {
		t.Fatalf("batch %+v %v", b, err)
	}
	h, _ := c.VectorStores.Files.Get(ctx, store.ID, hb)
	n, _ := c.VectorStores.Files.Get(ctx, store.ID, notes)
	if h.Attributes["team"].OfString != "people" || h.ChunkingStrategy.Static.MaxChunkSizeTokens != 100 ||
		n.Attributes["team"].OfString != "sre" || n.Attributes["rank"].OfFloat != 2 || n.ChunkingStrategy.Static.MaxChunkSizeTokens != 800 {
		t.Errorf("files' own attributes and strategies: %+v %+v / %+v %+v", h.Attributes, h.ChunkingStrategy, n.Attributes, n.ChunkingStrategy)
	}
	page, err := c.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("on-call")}, Filters: teamFilter("sre")})
	if err != nil || len(page.Data) == 0 {
		t.Fatalf("search by a file's own attributes: %v", err)
	}
	for _, r := range page.Data {
		if r.FileID != notes {
			t.Errorf("the filter admitted %s", r.FileID)
		}
	}

	// file_ids with shared attributes still works.
	third := upload("third.md", "# Third\n\nA third document.\n")
	b, err = c.VectorStores.FileBatches.NewAndPoll(ctx, store.ID, openai.VectorStoreFileBatchNewParams{FileIDs: []string{third},
		Attributes: map[string]openai.VectorStoreFileBatchNewParamsAttributeUnion{"team": {OfString: openai.String("all")}}}, 20)
	if err != nil || b.FileCounts.Completed != 1 {
		t.Fatalf("file_ids batch %+v %v", b, err)
	}
	if f, _ := c.VectorStores.Files.Get(ctx, store.ID, third); f.Attributes["team"].OfString != "all" {
		t.Errorf("file_ids batch attributes %+v", f.Attributes)
	}
}

// The new endpoints' bad input is a 4xx in OpenAI's error format, and
// leaves nothing behind.
func TestKnowledgeFilesBadInput(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("bad")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader("hello"), "a.txt", "text/plain"), Purpose: openai.FilePurposeAssistants})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VectorStores.Files.NewAndPoll(ctx, store.ID, openai.VectorStoreFileNewParams{FileID: f.ID}, 20); err != nil {
		t.Fatal(err)
	}
	sfPath := "/v1/vector_stores/" + store.ID + "/files/" + f.ID
	batches := "/v1/vector_stores/" + store.ID + "/file_batches"
	many := make([]string, 2001)
	for i := range many {
		many[i] = fmt.Sprintf("file-%d", i)
	}
	manyJSON, _ := json.Marshal(map[string]any{"file_ids": many})
	var manyFiles []map[string]any
	for _, id := range many {
		manyFiles = append(manyFiles, map[string]any{"file_id": id})
	}
	manyFilesJSON, _ := json.Marshal(map[string]any{"files": manyFiles})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"update without attributes", "POST", sfPath, `{}`, 400, "attributes is required"},
		{"update with an unknown field", "POST", sfPath, `{"attributes":{},"metadata":{}}`, 400, "metadata"},
		{"update with a nested value", "POST", sfPath, `{"attributes":{"a":{"b":1}}}`, 400, "attributes.a"},
		{"update with a list", "POST", sfPath, `{"attributes":["a"]}`, 400, "attributes must be an object"},
		{"update with a long value", "POST", sfPath, `{"attributes":{"a":"` + strings.Repeat("x", 513) + `"}}`, 400, "512"},
		{"update of a file not attached", "POST", "/v1/vector_stores/" + store.ID + "/files/file-nope", `{"attributes":{}}`, 404, "no such vector store file"},
		{"update in a missing store", "POST", "/v1/vector_stores/vs_nope/files/" + f.ID, `{"attributes":{}}`, 404, "no such vector store file"},
		{"content of a missing store", "GET", "/v1/vector_stores/vs_nope/files/" + f.ID + "/content", "", 404, "no such vector store file"},
		{"batch with both", "POST", batches, `{"file_ids":["` + f.ID + `"],"files":[{"file_id":"` + f.ID + `"}]}`, 400, "mutually exclusive"},
		{"batch with neither", "POST", batches, `{}`, 400, "file_ids or files is required"},
		{"batch files with shared attributes", "POST", batches, `{"files":[{"file_id":"` + f.ID + `"}],"attributes":{"a":"b"}}`, 400, "each file its own"},
		{"batch files without an id", "POST", batches, `{"files":[{"attributes":{"a":"b"}}]}`, 400, "files[0].file_id"},
		{"batch files with bad attributes", "POST", batches, `{"files":[{"file_id":"a"},{"file_id":"b","attributes":{"a":[1]}}]}`, 400, "files[1].attributes.a"},
		{"batch files with a bad strategy", "POST", batches, `{"files":[{"file_id":"a","chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":10,"chunk_overlap_tokens":0}}}]}`, 400, "files[0].chunking_strategy.static.max_chunk_size_tokens"},
		{"batch with a file twice", "POST", batches, `{"files":[{"file_id":"a"},{"file_id":"a"}]}`, 400, "twice"},
		{"batch of 2001 file_ids", "POST", batches, string(manyJSON), 400, "1 to 2000"},
		{"batch of 2001 files", "POST", batches, string(manyFilesJSON), 400, "1 to 2000"},
		{"batch with an unknown file", "POST", batches, `{"files":[{"file_id":"file-nope"}]}`, 404, "no such"},
	} {
		resp, body := ts.do(t, tc.method, tc.path, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s; want %d with %q", tc.name, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	// Nothing was attached or changed by the refused requests.
	list, err := c.VectorStores.Files.List(ctx, store.ID, openai.VectorStoreFileListParams{})
	if err != nil || len(list.Data) != 1 || len(list.Data[0].Attributes) != 0 {
		t.Errorf("after bad requests the store holds %+v, %v", list.Data, err)
	}
}
