package gemini

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

const testKey = "AIzaSy-test-key-0123456789"

// fake is an upstream that answers every call with one canned answer and
// records the requests it got.
type fake struct {
	mu       sync.Mutex
	status   int
	ctype    string
	header   http.Header
	body     string
	requests []recorded
}

type recorded struct {
	path, query string
	header      http.Header
	body        []byte
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: b})
	status, ctype, body, header := f.status, f.ctype, f.body, f.header
	f.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	if ctype == "" {
		ctype = "application/json"
	}
	w.Header().Set("Content-Type", ctype)
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fake) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the upstream got no request")
	}
	return f.requests[len(f.requests)-1]
}

// newFake returns a client of a fake upstream answering status, the
// content type and body.
func newFake(t *testing.T, status int, ctype, body string) (*Client, *fake) {
	t.Helper()
	f := &fake{status: status, ctype: ctype, body: body}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Options{Name: "gm", BaseURL: srv.URL + "/v1beta", APIKey: testKey, Headers: map[string]string{"X-Extra": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func chatReq(model string, stream bool) *llm.ChatRequest {
	body := `{"model":"alias","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"alias","messages":[{"role":"user","content":"hi"}],"stream":true}`
	}
	return &llm.ChatRequest{Model: model, Stream: stream, Body: []byte(body)}
}

func asError(t *testing.T, err error) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Provider != "gm" {
		t.Errorf("error names provider %q", e.Provider)
	}
	return e
}
