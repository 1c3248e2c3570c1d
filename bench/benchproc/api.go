package benchproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"time"
)

// API calls a running Bulwark's HTTP API with a key.
type API struct {
	URL string
	Key string
	hc  *http.Client
}

// NewAPI returns a client of the Bulwark at url.
func NewAPI(url, key string) *API {
	return &API{URL: url, Key: key, hc: &http.Client{Timeout: time.Minute}}
}

// Call sends a request (body of type ctype, none when nil) and decodes a
// 200 answer into out (when not nil); any other status is an error that
// carries the answer.
func (a *API) Call(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.Key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// JSON sends v as a JSON body.
func (a *API) JSON(ctx context.Context, method, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.Call(ctx, method, path, "application/json", bytes.NewReader(b), out)
}

// Upload uploads content as a file (purpose assistants) and returns its id.
func (a *API) Upload(ctx context.Context, name, content string) (string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("purpose", "assistants")
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		return "", err
	}
	_, _ = fw.Write([]byte(content))
	_ = w.Close()
	var f struct{ ID string }
	err = a.Call(ctx, "POST", "/v1/files", w.FormDataContentType(), &b, &f)
	return f.ID, err
}

// StoreCounts are a vector store's files by status.
type StoreCounts struct {
	InProgress int `json:"in_progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
}

// WaitStore polls a vector store until none of its files is in progress
// and returns its counts.
func (a *API) WaitStore(ctx context.Context, id string, every time.Duration) (StoreCounts, error) {
	for {
		var s struct {
			FileCounts StoreCounts `json:"file_counts"`
		}
		if err := a.Call(ctx, "GET", "/v1/vector_stores/"+id, "", nil, &s); err != nil {
			return s.FileCounts, err
		}
		if s.FileCounts.InProgress == 0 {
			return s.FileCounts, nil
		}
		select {
		case <-ctx.Done():
			return s.FileCounts, ctx.Err()
		case <-time.After(every):
		}
	}
}
