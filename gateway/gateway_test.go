package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// fake is a provider that fails with err (when set) and counts its calls.
// The simulator is not used here: gateway must not import it, even in
// tests; the chaos package drives the gateway with it.
type fake struct {
	name  string
	err   *llm.Error
	calls atomic.Int64
	// failFirst, when > 0, limits err to the first failFirst calls.
	failFirst int64
	// chunks is what a stream sends before ending with streamErr (io.EOF
	// when nil); gap is the wait before each chunk.
	chunks    int
	gap       time.Duration
	streamErr error
}

func (f *fake) fail() error {
	n := f.calls.Add(1)
	if f.err != nil && (f.failFirst == 0 || n <= f.failFirst) {
		e := *f.err
		e.Provider = f.name
		return &e
	}
	return nil
}

func (f *fake) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return &llm.ChatResponse{Model: req.Model, Body: []byte(`{}`)}, nil
}

func (f *fake) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return &llm.EmbedResponse{Model: req.Model}, nil
}

func (f *fake) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return &fakeStream{ctx: ctx, f: f}, nil
}

type fakeStream struct {
	ctx  context.Context
	f    *fake
	sent int
}

func (s *fakeStream) Recv() (*llm.Chunk, error) {
	if s.sent == s.f.chunks {
		if s.f.streamErr != nil {
			return nil, s.f.streamErr
		}
		return nil, io.EOF
	}
	select {
	case <-time.After(s.f.gap):
	case <-s.ctx.Done():
		return nil, &llm.Error{Kind: llm.KindCanceled, Err: s.ctx.Err()}
	}
	s.sent++
	return &llm.Chunk{Data: []byte(fmt.Sprintf(`{"n":%d}`, s.sent)), HasContent: true}, nil
}

func (s *fakeStream) Close() error { return nil }

// gw builds a gateway over fakes "a" and "b": alias "chat" on a with the
// fallback "backup" on b, extra applied to chat's config.
func gw(t *testing.T, extra func(*config.Model)) (*Gateway, *fake, *fake) {
	t.Helper()
	a, b := &fake{name: "a"}, &fake{name: "b"}
	chat := config.Model{Name: "chat", Targets: []config.Target{{Provider: "a", Model: "ma"}}, Fallbacks: []string{"backup"}}
	if extra != nil {
		extra(&chat)
	}
	tbl, err := route.New([]config.Model{chat, {Name: "backup", Targets: []config.Target{{Provider: "b", Model: "mb"}}}},
		map[string]llm.Provider{"a": a, "b": b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(tbl, Options{}), a, b
}

func req() *llm.ChatRequest {
	return &llm.ChatRequest{Model: "chat", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
}

func TestNoSameTargetRetryOnTerminalKinds(t *testing.T) {
	for _, k := range []llm.Kind{llm.KindContextLength, llm.KindContentFilter, llm.KindBadRequest, llm.KindAuth, llm.KindNotFound, llm.KindTimeout} {
		synctest.Test(t, func(t *testing.T) {
			g, a, b := gw(t, nil)
			a.err = &llm.Error{Kind: k, Status: 400}
			_, out, _ := g.Chat(t.Context(), tenant.Principal{}, req())
			if a.calls.Load() != 1 {
				t.Errorf("%s: a called %d times", k, a.calls.Load())
			}
			// Auth, not found and timeout are the target's problem: fail
			// over. The others are the request's: stop.
			wantB := k == llm.KindAuth || k == llm.KindNotFound || k == llm.KindTimeout
			if (b.calls.Load() == 1) != wantB {
				t.Errorf("%s: fallback called %d times (attempts %v)", k, b.calls.Load(), out.Tried)
			}
		})
	}
}

func TestMaxAttemptsBoundsTheWholeRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b := gw(t, func(m *config.Model) { m.Retry.MaxAttempts = 2; m.Retry.PerTarget = 5 })
		a.err = &llm.Error{Kind: llm.KindServer, Status: 500}
		b.err = a.err
		_, out, err := g.Chat(t.Context(), tenant.Principal{}, req())
		var ae *AttemptsError
		if !errors.As(err, &ae) || out.Attempts != 2 || a.calls.Load()+b.calls.Load() != 2 {
			t.Fatalf("attempts %d, err %v", out.Attempts, err)
		}
		if !strings.Contains(err.Error(), "2 attempts: a/ma server_error 500 after") {
			t.Errorf("message %q does not list the attempts", err)
		}
		if llm.KindOf(err) != llm.KindServer {
			t.Errorf("kind %s", llm.KindOf(err))
		}
	})
}

func TestRetryAfterBeyondTheDeadlineFailsOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, _ := gw(t, func(m *config.Model) { m.Timeouts.Total = config.Duration(3 * time.Second) })
		a.err = &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 5 * time.Second}
		start := time.Now()
		_, out, err := g.Chat(t.Context(), tenant.Principal{}, req())
		if err != nil || out.Target.Provider != "b" || time.Since(start) != 0 {
			t.Errorf("err %v, attempts %v, took %s", err, out.Tried, time.Since(start))
		}
	})
}

func TestEmbedUsesTheAttemptLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, _ := gw(t, nil)
		a.err = &llm.Error{Kind: llm.KindOverloaded, Status: 503}
		resp, out, err := g.Embed(t.Context(), tenant.Principal{}, &llm.EmbedRequest{Model: "chat", Input: []string{"x"}})
		if err != nil || resp.Model != "mb" || out.Attempts != 3 {
			t.Errorf("err %v, attempts %v", err, out.Tried)
		}
	})
}

func TestStreamRelayEndsAStallWithStreamBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, _ := gw(t, func(m *config.Model) { m.Timeouts.StreamIdle = config.Duration(2 * time.Second) })
		a.chunks, a.gap = 3, time.Second
		s, out, err := g.Stream(t.Context(), tenant.Principal{}, req(), StreamOptions{})
		if err != nil || out.Target.Provider != "a" {
			t.Fatal(err)
		}
		defer s.Close()
		a.gap = time.Hour // the rest stalls
		for {
			_, err = s.Recv()
			if err != nil {
				break
			}
		}
		if llm.KindOf(err) != llm.KindStreamBroken || errors.Is(err, io.EOF) {
			t.Errorf("stalled stream ended with %v", err)
		}
	})
}

func TestStreamHeartbeatsWhileWaitingForFirstContent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, _ := gw(t, func(m *config.Model) { m.Timeouts.Heartbeat = config.Duration(time.Second) })
		a.chunks, a.gap = 1, 3500*time.Millisecond
		var beats atomic.Int64
		s, _, err := g.Stream(t.Context(), tenant.Principal{}, req(), StreamOptions{Heartbeat: func() { beats.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(5 * time.Second)
		if beats.Load() != 3 {
			t.Errorf("%d heartbeats in 3.5s every 1s, and none after the first content", beats.Load())
		}
	})
}
