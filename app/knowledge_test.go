package app

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const handbook = `# Handbook

## On call

The on-call engineer answers pages within five minutes and writes the incident timeline as it happens.

## Travel

Train travel is preferred for trips under four hours; flights need a manager's approval in advance.
`

// The official OpenAI Go SDK drives the Files and Vector Stores APIs:
// upload, attach and poll, search with a filter on attributes, and a
// tenant that sees nothing of another's.
func TestSDKVectorStores(t *testing.T) {
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
	if f.Status != openai.VectorStoreFileStatusCompleted || f.UsageBytes == 0 {
		t.Fatalf("file %+v", f)
	}
	page, err := c.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
		Query:         openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("who answers pages")},
		MaxNumResults: openai.Int(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) == 0 || page.Data[0].FileID != f.ID || page.Data[0].Filename != "handbook.md" ||
		!strings.Contains(page.Data[0].Content[0].Text, "on-call") {
		t.Fatalf("search %+v", page.Data)
	}
	got, err := c.VectorStores.Get(ctx, store.ID)
	if err != nil || got.FileCounts.Completed != 1 || got.FileCounts.Total != 1 || got.Status != openai.VectorStoreStatusCompleted {
		t.Fatalf("store %+v %v", got, err)
	}
	content, err := c.Files.Content(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(content.Body)
	content.Body.Close()
	if buf.String() != handbook {
		t.Errorf("content read back differs: %q", buf.String())
	}

	// Another tenant's key sees neither the store nor the file.
	_, secret := createKey(t, ts, `{"id":"globex","name":"Globex"}`, `{"tenant_id":"globex","name":"app"}`)
	other := openai.NewClient(option.WithBaseURL(ts.url+"/v1"), option.WithAPIKey(secret), option.WithMaxRetries(0))
	var apiErr *openai.Error
	if _, err := other.VectorStores.Get(ctx, store.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant read the store: %v", err)
	}
	if _, err := other.Files.Get(ctx, f.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant read the file: %v", err)
	}
	list, err := other.VectorStores.List(ctx, openai.VectorStoreListParams{})
	if err != nil || len(list.Data) != 0 {
		t.Errorf("another tenant lists %d stores: %v", len(list.Data), err)
	}

	// Deleting the file takes it out of the store and the search.
	if _, err := c.Files.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	page, err = c.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("who answers pages")},
	})
	if err != nil || len(page.Data) != 0 {
		t.Errorf("after the delete the search found %d results: %v", len(page.Data), err)
	}
}

// Bad uploads and bad requests are 4xx in OpenAI's format, and the store
// stays intact.
func TestKnowledgeBadInput(t *testing.T) {
	ts := start(t, fastConfig+"knowledge: {max_file_bytes: 1024}\n")
	upload := func(fields map[string]string, file []byte) (*http.Response, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			_ = w.WriteField(k, v)
		}
		if file != nil {
			fw, _ := w.CreateFormFile("file", "doc.txt")
			_, _ = fw.Write(file)
		}
		_ = w.Close()
		return ts.do(t, "POST", "/v1/files", b.String(), "Content-Type", w.FormDataContentType())
	}
	for _, c := range []struct {
		name   string
		resp   func() (*http.Response, []byte)
		status int
		want   string
	}{
		{"not multipart", func() (*http.Response, []byte) { return ts.do(t, "POST", "/v1/files", `{"purpose":"assistants"}`) }, 400, "multipart/form-data"},
		{"no file", func() (*http.Response, []byte) { return upload(map[string]string{"purpose": "assistants"}, nil) }, 400, "no file part"},
		{"no purpose", func() (*http.Response, []byte) { return upload(nil, []byte("hello")) }, 400, "no purpose"},
		{"bad purpose", func() (*http.Response, []byte) { return upload(map[string]string{"purpose": "fun"}, []byte("hello")) }, 400, "purpose must be one of"},
		{"too large", func() (*http.Response, []byte) {
			return upload(map[string]string{"purpose": "assistants"}, bytes.Repeat([]byte("a"), 2048))
		}, 413, "larger than the limit"},
		{"broken multipart", func() (*http.Response, []byte) {
			return ts.do(t, "POST", "/v1/files", "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc", "Content-Type", "multipart/form-data; boundary=x")
		}, 400, "malformed"},
		{"unknown store", func() (*http.Response, []byte) {
			return ts.do(t, "POST", "/v1/vector_stores/vs_nope/search", `{"query":"x"}`)
		}, 404, "no such vector store"},
		{"bad chunking", func() (*http.Response, []byte) {
			return ts.do(t, "POST", "/v1/vector_stores", `{"name":"x","chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":50,"chunk_overlap_tokens":0}}}`)
		}, 400, "max_chunk_size_tokens"},
		{"bad filter", func() (*http.Response, []byte) {
			_, body := ts.do(t, "POST", "/v1/vector_stores", `{"name":"x"}`)
			id := strings.Split(strings.Split(string(body), `"id":"`)[1], `"`)[0]
			return ts.do(t, "POST", "/v1/vector_stores/"+id+"/search", `{"query":"x","filters":{"type":"like","key":"a","value":"b"}}`)
		}, 400, "filters.type"},
		{"unknown file", func() (*http.Response, []byte) {
			_, body := ts.do(t, "POST", "/v1/vector_stores", `{"name":"x"}`)
			id := strings.Split(strings.Split(string(body), `"id":"`)[1], `"`)[0]
			return ts.do(t, "POST", "/v1/vector_stores/"+id+"/files", `{"file_id":"file-nope"}`)
		}, 404, "no such"},
	} {
		resp, body := c.resp()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s; want %d with %q", c.name, resp.StatusCode, body, c.status, c.want)
		}
	}
	// An accepted small file after all that: the store still works.
	resp, body := upload(map[string]string{"purpose": "assistants"}, []byte("The quick brown fox."))
	if resp.StatusCode != 200 {
		t.Fatalf("a good upload after bad ones: %d %s", resp.StatusCode, body)
	}
}

// Issue 15 item 9: files that are not what they say, or are built to hurt
// a parser, each fail alone with a clear last_error; the process and the
// store go on.
func TestHostileFilesFailAlone(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("hostile")})
	if err != nil {
		t.Fatal(err)
	}
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	w, _ := zw.Create("word/document.xml")
	_, _ = w.Write([]byte(`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>`))
	_, _ = w.Write(bytes.Repeat([]byte("a"), 300<<20)) // 300 MiB of one letter: a few hundred KiB zipped
	_, _ = w.Write([]byte(`</w:t></w:r></w:p></w:body></w:document>`))
	w, _ = zw.Create("[Content_Types].xml")
	_, _ = w.Write([]byte(`<Types/>`))
	_ = zw.Close()
	for _, f := range []struct{ name, body, want string }{
		{"bomb.docx", bomb.String(), "zip bomb"},
		{"report.pdf", "this is not a PDF at all, just text in a .pdf", ""}, // read as what it is
		{"noise.pdf", "\x00\x01\x02\x03\xff\xfe\x00garbage\x00\x10\x11", "unsupported"},
		{"broken.pdf", "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF", "pdf"},
		{"app.html", "<html><head><script>var a = 1;</script></head><body><script>go()</script></body></html>", "no text"},
	} {
		vf, err := c.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
			File: openai.File(strings.NewReader(f.body), f.name, "application/octet-stream"), Purpose: openai.FilePurposeAssistants}, 20)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		switch {
		case f.want == "" && vf.Status != openai.VectorStoreFileStatusCompleted:
			t.Errorf("%s: %s %+v", f.name, vf.Status, vf.LastError)
		case f.want != "" && (vf.Status != openai.VectorStoreFileStatusFailed || !strings.Contains(strings.ToLower(vf.LastError.Message), f.want)):
			t.Errorf("%s: %s %+v, want failed with %q", f.name, vf.Status, vf.LastError, f.want)
		}
	}
	// The process and the store go on.
	vf, err := c.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
		File: openai.File(strings.NewReader(handbook), "handbook.md", "text/markdown"), Purpose: openai.FilePurposeAssistants}, 20)
	if err != nil || vf.Status != openai.VectorStoreFileStatusCompleted {
		t.Fatalf("a good file after the hostile ones: %v %+v", err, vf)
	}
	page, err := c.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("who answers pages")}})
	if err != nil || len(page.Data) == 0 {
		t.Fatalf("search after the hostile files: %v", err)
	}
}
