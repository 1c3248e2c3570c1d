package openai

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

// TestStreamCutByTheShutdownEndsWithAnErrorEvent cancels a stream under
// way as the server does when its shutdown grace is over (the request's
// context, with gateway.ErrShuttingDown as its cause): the client is told
// with a server_shutting_down error event, flushed, and no [DONE]. A
// stream whose client went away (a cancel with no such cause) gets no
// event: there is no one to tell.
func TestStreamCutByTheShutdownEndsWithAnErrorEvent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause error
		want  string // what follows the first chunk
	}{
		{"shutdown", gateway.ErrShuttingDown, `data: {"error":{"message":"Bulwark is shutting down and ended this request; retry it","type":"server_error","param":null,"code":"server_shutting_down"}}` + "\n\n"},
		{"client gone", context.Canceled, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				next := make(chan *llm.Chunk)
				h := newHandler(t, &provider{stream: func(ctx context.Context) llm.Stream {
					return &pacedStream{ctx: ctx, next: next}
				}}, nil)
				ctx, cancel := context.WithCancelCause(t.Context())
				defer cancel(nil)
				r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", strings.NewReader(streamBody))
				rec := &flushRecorder{}
				done := make(chan struct{})
				go func() {
					defer close(done)
					h.chat(rec, r, tenant.Principal{})
				}()
				first := `{"choices":[{"delta":{"content":"1"}}]}`
				next <- &llm.Chunk{Data: []byte(first), HasContent: true}
				synctest.Wait()
				cancel(tc.cause)
				<-done
				got, _ := rec.state()
				want := "data: " + first + "\n\n" + tc.want
				if got != want {
					t.Errorf("the client was sent\n%s\nwant\n%s", got, want)
				}
				if !errors.Is(context.Cause(ctx), tc.cause) {
					t.Fatalf("cause = %v", context.Cause(ctx))
				}
			})
		})
	}
}

// waitingProvider answers a call only when its context ends: with the
// cancel.
type waitingProvider struct{ provider }

func (p *waitingProvider) Chat(ctx context.Context, _ *llm.ChatRequest) (*llm.ChatResponse, error) {
	<-ctx.Done()
	return nil, &llm.Error{Kind: llm.KindCanceled, Err: ctx.Err()}
}

// TestRequestCutByTheShutdownBeforeItsAnswerIsA503 answers a call, or a
// stream that sent nothing yet, that the shutdown canceled with a 503
// saying so, not as canceled by its client. A failure that is not the
// cancel keeps its answer.
func TestRequestCutByTheShutdownBeforeItsAnswerIsA503(t *testing.T) {
	waiting := &waitingProvider{provider{stream: func(ctx context.Context) llm.Stream {
		return &pacedStream{ctx: ctx, next: make(chan *llm.Chunk)}
	}}}
	const call = `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name   string
		p      llm.Provider
		body   string
		status int
		code   string
	}{
		{"stream", waiting, streamBody, http.StatusServiceUnavailable, "server_shutting_down"},
		{"call", waiting, call, http.StatusServiceUnavailable, "server_shutting_down"},
		{"call refused", &waiting.provider, call, http.StatusBadRequest, "bad_request"},
	} {
		h := newHandler(t, tc.p, nil)
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(gateway.ErrShuttingDown)
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", strings.NewReader(tc.body))
		w := httptest.NewRecorder()
		h.chat(w, r, tenant.Principal{})
		if w.Code != tc.status || !strings.Contains(w.Body.String(), `"code":"`+tc.code+`"`) {
			t.Errorf("%s: status %d, body %s; want %d %s", tc.name, w.Code, w.Body, tc.status, tc.code)
		}
		if retry := w.Header().Get("Retry-After"); (retry != "") != (tc.status == http.StatusServiceUnavailable) {
			t.Errorf("%s: Retry-After %q", tc.name, retry)
		}
	}
}
