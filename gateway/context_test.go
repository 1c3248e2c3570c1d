package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tokens"
)

// windowed builds a gateway over the given aliases, every target served
// by one billed provider "p", with a limiter and a usage sink.
func windowed(t *testing.T, models ...config.Model) (*Gateway, *billed, *settles, *sink) {
	t.Helper()
	p := &billed{name: "p"}
	tbl, err := route.New(models, map[string]llm.Provider{"p": p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := New(tbl, Options{})
	lim := &settles{Limiter: limit.NewMemory(limit.MemoryOptions{})}
	s := &sink{}
	g.SetLimiter(lim)
	g.SetUsage(s)
	return g, p, lim, s
}

func alias(name string, window int, models ...string) config.Model {
	m := config.Model{Name: name, ContextWindow: window}
	for _, model := range models {
		m.Targets = append(m.Targets, config.Target{Provider: "p", Model: model})
	}
	return m
}

// words is a prompt of n words, n+… tokens in any encoding.
func words(n int) string { return strings.Repeat(" word", n) }

func chatOf(alias, content string, maxTokens int) *llm.ChatRequest {
	return &llm.ChatRequest{Model: alias, MaxTokens: maxTokens, Messages: []llm.Message{{Role: "user", Content: content}}}
}

func TestPromptOverTheWindowIsRefusedBeforeAnyCall(t *testing.T) {
	g, p, lim, s := windowed(t, alias("chat", 100, "gpt-4o"))
	for _, tc := range []struct {
		req  *llm.ChatRequest
		want string
	}{
		{chatOf("chat", words(100), 0), "This model's maximum context length is 100 tokens. However, your messages resulted in 107 tokens. Please reduce the length of the messages."},
		{chatOf("chat", words(50), 60), "This model's maximum context length is 100 tokens. However, you requested 117 tokens (57 in the messages, 60 in the completion). Please reduce the length of the messages or completion."},
	} {
		_, out, err := g.Chat(t.Context(), limited, tc.req)
		var ce *ContextError
		if !errors.As(err, &ce) || err.Error() != tc.want {
			t.Fatalf("err = %v\nwant %s", err, tc.want)
		}
		if llm.KindOf(err) != llm.KindContextLength || ce.Param != "messages" || ce.Window != 100 {
			t.Errorf("kind %s, %+v", llm.KindOf(err), ce)
		}
		if out.Attempts != 0 || out.RateLimit != nil {
			t.Errorf("outcome %+v; want no attempt and no reservation", out)
		}
		if _, _, err := g.Stream(t.Context(), limited, tc.req, StreamOptions{}); !errors.As(err, &ce) {
			t.Errorf("stream: %v", err)
		}
	}
	if p.calls != 0 || len(lim.estimates) != 0 || len(s.all()) != 0 {
		t.Errorf("%d upstream calls, %d reservations, %d records; want none", p.calls, len(lim.estimates), len(s.all()))
	}
	// At the window exactly, it goes through.
	if _, _, err := g.Chat(t.Context(), limited, chatOf("chat", words(50), 43)); err != nil || p.calls != 1 {
		t.Errorf("a prompt that fits: %v, %d calls", err, p.calls)
	}
}

func TestBuiltInWindowAppliesWhenTheAliasSetsNone(t *testing.T) {
	g, p, _, _ := windowed(t, alias("gpt4", 0, "gpt-4"), alias("local", 0, "llama3.1:8b"), alias("mixed", 0, "gpt-4", "llama3.1:8b"))
	long := chatOf("gpt4", words(8200), 0)
	var ce *ContextError
	if _, _, err := g.Chat(t.Context(), tenant.Principal{}, long); !errors.As(err, &ce) || ce.Window != 8192 {
		t.Fatalf("gpt-4: %v", err)
	}
	// A model Bulwark knows no window of takes any prompt, and so does an
	// alias one of whose targets is such a model.
	for _, a := range []string{"local", "mixed"} {
		long.Model = a
		if _, _, err := g.Chat(t.Context(), tenant.Principal{}, long); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if p.calls != 2 {
		t.Errorf("%d calls; want 2", p.calls)
	}
}

// A prompt too long for an alias that falls back to a larger one on a
// context-length failure goes through: the attempt loop will get there.
func TestContextLengthFallbackWithRoomIsNotRefused(t *testing.T) {
	small := alias("small", 50, "m")
	small.FallbackOn.ContextLength = []string{"large"}
	g, _, _, _ := windowed(t, small, alias("large", 1000, "m"), alias("tiny", 10, "m"))
	if _, _, err := g.Chat(t.Context(), tenant.Principal{}, chatOf("small", words(100), 0)); err != nil {
		t.Errorf("with a larger fallback: %v", err)
	}
	var ce *ContextError
	if _, _, err := g.Chat(t.Context(), tenant.Principal{}, chatOf("small", words(2000), 0)); !errors.As(err, &ce) || ce.Window != 1000 || ce.Alias != "small" {
		t.Errorf("too long for the fallback too: %v (%+v)", err, ce)
	}
}

func TestEmbeddingInputOverTheWindowIsRefused(t *testing.T) {
	g, p, _, _ := windowed(t, alias("embed", 0, "text-embedding-3-small"))
	in := &llm.EmbedRequest{Model: "embed", Input: []string{"short", words(9000)}}
	var ce *ContextError
	if _, _, err := g.Embed(t.Context(), tenant.Principal{}, in); !errors.As(err, &ce) || ce.Param != "input" || ce.Window != 8191 || ce.Prompt != 9000 {
		t.Fatalf("err = %v (%+v)", err, ce)
	}
	// Many inputs that each fit are one request.
	in.Input = []string{words(8000), words(8000)}
	if _, _, err := g.Embed(t.Context(), tenant.Principal{}, in); err != nil || p.calls != 1 {
		t.Errorf("inputs that fit one by one: %v", err)
	}
}

// A prompt too large to count is refused by its lower bound, which the
// message says.
func TestHugePromptIsRefusedByItsBound(t *testing.T) {
	g, p, _, _ := windowed(t, alias("chat", 0, "gpt-4o"))
	_, _, err := g.Chat(t.Context(), tenant.Principal{}, chatOf("chat", words(300_000), 0))
	var ce *ContextError
	if !errors.As(err, &ce) || !ce.AtLeast || ce.Prompt < 128_000 || !strings.Contains(err.Error(), "resulted in at least") || p.calls != 0 {
		t.Errorf("err = %v (%+v), %d calls", err, ce, p.calls)
	}
}

func TestReservationUsesTheCount(t *testing.T) {
	g, _, lim, _ := windowed(t, alias("chat", 0, "gpt-4o"), alias("embed", 0, "text-embedding-3-small"))
	req := chatOf("chat", "How many tokens is this prompt, exactly?", 0)
	req.N = 2
	if _, _, err := g.Chat(t.Context(), limited, req); err != nil {
		t.Fatal(err)
	}
	in := &llm.EmbedRequest{Model: "embed", Input: []string{"tiktoken is great!", "hello"}}
	if _, _, err := g.Embed(t.Context(), limited, in); err != nil {
		t.Fatal(err)
	}
	prompt := tokens.For("gpt-4o").Chat(req).Tokens
	if want := []int{prompt + 2*defaultCompletion, 7}; len(lim.estimates) != 2 || lim.estimates[0] != want[0] || lim.estimates[1] != want[1] {
		t.Errorf("reserved %v; want %v", lim.estimates, want)
	}
}

func TestEstimateChat(t *testing.T) {
	r := &llm.ChatRequest{MaxTokens: 100}
	if got := estimateChat(r, 11); got != 111 {
		t.Errorf("estimate = %d; want 111", got)
	}
	r.MaxTokens, r.N = 0, 2
	if got := estimateChat(r, 11); got != 11+2*defaultCompletion {
		t.Errorf("estimate without max_tokens, n=2 = %d", got)
	}
	if got := estimateEmbed(&llm.EmbedRequest{}, 5); got != 5 {
		t.Errorf("embed estimate = %d; want 5", got)
	}
}

func TestUsageRecordCarriesTheRequestID(t *testing.T) {
	g, _, _, s := windowed(t, alias("chat", 0, "m"))
	req := chatOf("chat", "hi", 0)
	req.RequestID = "req_123"
	if _, _, err := g.Chat(t.Context(), tenant.Principal{TenantID: "acme"}, req); err != nil {
		t.Fatal(err)
	}
	st, _, err := g.Stream(t.Context(), tenant.Principal{TenantID: "acme"}, req, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if _, _, err := g.Embed(t.Context(), tenant.Principal{TenantID: "acme"}, &llm.EmbedRequest{Model: "chat", Input: []string{"x"}, RequestID: "req_456"}); err != nil {
		t.Fatal(err)
	}
	recs := s.all()
	if len(recs) != 3 || recs[0].RequestID != "req_123" || recs[1].RequestID != "req_123" || recs[2].RequestID != "req_456" {
		t.Errorf("records = %+v", recs)
	}
}

func TestAliasLimitsAreAScopeOfTheirOwn(t *testing.T) {
	chat := alias("chat", 0, "m")
	chat.Limits = config.ModelLimits{RequestsPerMinute: 2, Concurrent: 10}
	g, p, _, _ := windowed(t, chat, alias("other", 0, "m"))
	// Two tenants share the alias's limit.
	one := tenant.Principal{TenantID: "t1", KeyID: "k1"}
	two := tenant.Principal{TenantID: "t2", KeyID: "k2"}
	for _, who := range []tenant.Principal{one, two} {
		if _, out, err := g.Chat(t.Context(), who, chatOf("chat", "hi", 0)); err != nil || out.RateLimit == nil || out.RateLimit.Requests.Limit != 2 {
			t.Fatalf("%s: %v, %+v", who.TenantID, err, out.RateLimit)
		}
	}
	_, out, err := g.Chat(t.Context(), one, chatOf("chat", "hi", 0))
	var le *limit.Error
	if !errors.As(err, &le) || le.Scope.Kind != limit.ScopeAlias || le.Scope.ID != "chat" || out.RateLimit.Requests.Remaining != 0 {
		t.Fatalf("third request: %v, %+v", err, out.RateLimit)
	}
	// Another alias is not limited by it.
	if _, out, err := g.Chat(t.Context(), one, chatOf("other", "hi", 0)); err != nil || out.RateLimit != nil {
		t.Errorf("other alias: %v, %+v", err, out.RateLimit)
	}
	if p.calls != 3 {
		t.Errorf("%d calls; want 3", p.calls)
	}
}

func TestScopes(t *testing.T) {
	r := &route.Route{Alias: "chat", Limits: config.ModelLimits{TokensPerMinute: 5}}
	got := scopes(limited, r)
	if len(got) != 3 || got[2] != (limit.Scope{Kind: limit.ScopeAlias, ID: "chat", Limits: limit.Limits{TokensPerMinute: 5}}) {
		t.Errorf("scopes = %+v", got)
	}
	if got := scopes(tenant.Principal{}, &route.Route{Alias: "chat"}); len(got) != 0 {
		t.Errorf("no limits: %+v", got)
	}
	if got := scopes(limited, nil); len(got) != 2 {
		t.Errorf("unresolved: %+v", got)
	}
}
