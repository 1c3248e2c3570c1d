package chaos_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// counted is a provider that counts its calls and may run a hook after
// each (to change the simulator's faults between attempts).
type counted struct {
	llm.Provider
	calls atomic.Int64
	after func(n int64)
	// stream is the last streaming request.
	stream atomic.Pointer[llm.ChatRequest]
}

func (c *counted) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	n := c.calls.Add(1)
	resp, err := c.Provider.Chat(ctx, req)
	if c.after != nil {
		c.after(n)
	}
	return resp, err
}

// ContinuesPrefix passes on the simulator's declaration (llm.Continuer).
func (c *counted) ContinuesPrefix() bool {
	x, ok := c.Provider.(llm.Continuer)
	return ok && x.ContinuesPrefix()
}

func (c *counted) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	n := c.calls.Add(1)
	c.stream.Store(req)
	s, err := c.Provider.Stream(ctx, req)
	if c.after != nil {
		c.after(n)
	}
	return s, err
}

// env is a gateway over simulated providers built from a YAML config.
type env struct {
	t     *testing.T
	gw    *gateway.Gateway
	table *route.Table
	sims  map[string]*sim.Sim
	prov  map[string]*counted
	api   *openai.Handler
}

func newEnv(t *testing.T, yaml string) *env {
	t.Helper()
	return newObservedEnv(t, yaml, gateway.Options{})
}

// newObservedEnv is newEnv with the gateway observed by o.
func newObservedEnv(t *testing.T, yaml string, o gateway.Options) *env {
	t.Helper()
	cfg, err := config.Parse([]byte("disable_builtin_sim: true\n"+yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e := &env{t: t, sims: map[string]*sim.Sim{}, prov: map[string]*counted{}}
	clients := map[string]llm.Provider{}
	for name, pc := range cfg.Providers {
		s := sim.New(name, pc.Seed, pc.SimModels)
		s.SetContinuesPrefix(pc.ContinuePrefix != "")
		e.sims[name] = s
		e.prov[name] = &counted{Provider: s}
		clients[name] = e.prov[name]
	}
	if e.table, err = route.New(cfg.Models, clients, nil); err != nil {
		t.Fatal(err)
	}
	e.gw = gateway.New(e.table, o)
	e.api = openai.New(e.gw, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return e
}

// faults sets provider's model's faults now.
func (e *env) faults(provider, model string, f config.Faults) {
	e.t.Helper()
	if err := e.sims[provider].SetFaults(model, f); err != nil {
		e.t.Fatal(err)
	}
}

// after runs fn after provider's n-th call.
func (e *env) after(provider string, fn func(n int64)) { e.prov[provider].after = fn }

func (e *env) calls(provider string) int64 { return e.prov[provider].calls.Load() }

func chatReq(alias string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: alias, Messages: []llm.Message{{Role: "user", Content: "hello there"}}}
}

func (e *env) chat(alias string) (*llm.ChatResponse, gateway.Outcome, error) {
	return e.gw.Chat(context.Background(), tenant.Principal{}, chatReq(alias))
}

// targets lists the target of each attempt.
func targets(o gateway.Outcome) string {
	s := make([]string, len(o.Tried))
	for i, a := range o.Tried {
		s[i] = a.Target
	}
	return strings.Join(s, ",")
}

// sse is a streamed answer as the client saw it.
type sse struct {
	status   int
	header   http.Header
	comments int      // ": keep-alive" heartbeats
	events   []string // data payloads, in order
}

func (s sse) done() bool { return len(s.events) > 0 && s.events[len(s.events)-1] == "[DONE]" }

func (s sse) last() string {
	if len(s.events) == 0 {
		return ""
	}
	return s.events[len(s.events)-1]
}

// content counts the events that are chunks with content.
func (s sse) content() int {
	n := 0
	for _, ev := range s.events {
		if strings.Contains(ev, `"delta":{"content"`) {
			n++
		}
	}
	return n
}

// stream sends a streaming request through the OpenAI API handler.
func (e *env) stream(alias string, includeUsage bool) sse {
	e.t.Helper()
	body := `{"model":"` + alias + `","stream":true,"messages":[{"role":"user","content":"hello there"}]`
	if includeUsage {
		body += `,"stream_options":{"include_usage":true}`
	}
	return e.streamBody(body + "}")
}

// streamBody sends a streaming request with the given body through the
// OpenAI API handler.
func (e *env) streamBody(body string) sse {
	e.t.Helper()
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	w := httptest.NewRecorder()
	e.api.Routes()["POST /v1/chat/completions"](w, r, tenant.Principal{})
	out := sse{status: w.Code, header: w.Header()}
	sc := bufio.NewScanner(w.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ": "):
			out.comments++
		case strings.HasPrefix(line, "data: "):
			out.events = append(out.events, strings.TrimPrefix(line, "data: "))
		}
	}
	return out
}

// since returns the fake time elapsed since start.
func since(start time.Time) time.Duration { return time.Since(start) }

// builtinModelsOff drops the built-in local embedding model's alias from
// models, for a test that builds its routes from sim clients only.
func builtinModelsOff(models []config.Model) []config.Model {
	return slices.DeleteFunc(models, func(m config.Model) bool { return m.Name == config.LocalEmbed })
}
