package openai

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// captured is one request an upstream received.
type captured struct {
	Method, Path, RawPath, RawQuery string
	Header                          http.Header
	Body                            []byte
}

// upstream is an httptest.Server standing in for an OpenAI-compatible API.
// It records every request, then serves it with handler.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func newUpstream(t *testing.T, handler http.HandlerFunc, configure ...func(*http.Server)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, captured{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: b,
		})
		u.mu.Unlock()
		handler(w, r)
	}))
	for _, f := range configure {
		f(u.Config)
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

// last returns the last request received.
func (u *upstream) last(t *testing.T) captured {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// client returns a Client for u with BaseURL {u}/v1, changed by opts.
func (u *upstream) client(t *testing.T, opts ...func(*Options)) *Client {
	t.Helper()
	o := Options{Name: "up", BaseURL: u.URL + "/v1", APIKey: testKey}
	for _, f := range opts {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testKey = "sk-test-0123456789abcdef"

// serveBytes answers with status, content type and body.
func serveBytes(status int, contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// llmError checks that err is an *llm.Error from provider "up" about model m.
func llmError(t *testing.T, err error, model string) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Provider != "up" || e.Model != model {
		t.Errorf("error names %s/%s, want up/%s", e.Provider, e.Model, model)
	}
	return e
}

func chatRequest(model string, body string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: model, Body: []byte(body)}
}
