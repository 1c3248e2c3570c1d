package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// classifierFake is the classifier alias's provider: it answers every
// chat with its verdict, or fails as told, and keeps the bodies it got.
// (Over HTTP, with an OpenAI-compatible server: app/guard_remote_test.go.)
type classifierFake struct {
	answering
	mu      sync.Mutex
	verdict string // the answer's text; "500" fails, "slow" never answers
	got     []map[string]any
}

func newClassifierFake(verdict string) *classifierFake { return &classifierFake{verdict: verdict} }

func (cs *classifierFake) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	var body map[string]any
	_ = json.Unmarshal(req.Body, &body)
	cs.mu.Lock()
	cs.got = append(cs.got, body)
	v := cs.verdict
	cs.mu.Unlock()
	switch v {
	case "500":
		return nil, &llm.Error{Kind: llm.KindServer, Status: 500, Provider: "c", Model: req.Model, Message: "boom at 10.0.0.7"}
	case "slow":
		<-ctx.Done()
		return nil, &llm.Error{Kind: llm.KindTimeout, Provider: "c", Model: req.Model, Err: ctx.Err()}
	}
	a := answering{content: v}
	return a.Chat(ctx, req)
}

func (cs *classifierFake) calls() []map[string]any {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]map[string]any(nil), cs.got...)
}

// classified builds a gateway whose alias "g" (served by p) has the
// guardrails gr, and whose alias "guard" is served by cs. guardGr are
// the guardrails of "guard" itself.
func classified(t testing.TB, p llm.Provider, cs *classifierFake, gr, guardGr config.Guardrails) *Gateway {
	t.Helper()
	models := []config.Model{
		{Name: "g", Targets: []config.Target{{Provider: "p", Model: "m"}}, Guardrails: gr},
		{Name: "guard", Targets: []config.Target{{Provider: "c", Model: "llama-guard"}}, Guardrails: guardGr,
			Retry: config.Retry{MaxAttempts: 1}},
	}
	tbl, err := route.New(models, map[string]llm.Provider{"p": p, "c": cs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(tbl, Options{})
}

// classifierRule is a classifier rule on the alias "guard", with a
// timeout no loaded test machine reaches (the first request builds the
// tokenizer).
func classifierRule(onError string) config.GuardCheck {
	return config.GuardCheck{Check: "classifier", Model: "guard", Action: "block", OnError: onError, Timeout: config.Duration(time.Minute)}
}

// TestGuardClassifierSafePasses: the classifier gets the conversation
// (roles normalised, temperature 0) once, and a safe verdict lets the
// request through.
func TestGuardClassifierSafePasses(t *testing.T) {
	cs := newClassifierFake("safe")
	p := &answering{content: "Paris."}
	g := classified(t, p, cs, config.Guardrails{Input: []config.GuardCheck{classifierRule("closed")}}, config.Guardrails{})
	resp, out, err := g.Chat(context.Background(), tenant.Principal{TenantID: "acme"}, guardReq("What is the capital of France?"))
	if err != nil || resp == nil || p.calls() != 1 {
		t.Fatalf("err %v, %d upstream calls", err, p.calls())
	}
	if len(out.Guardrails) != 0 || out.GuardrailsSkipped() != "" {
		t.Errorf("findings %+v", out.Guardrails)
	}
	got := cs.calls()
	if len(got) != 1 {
		t.Fatalf("%d classifier calls, want 1", len(got))
	}
	msgs, _ := got[0]["messages"].([]any)
	if len(msgs) != 1 || got[0]["temperature"] != 0.0 {
		t.Fatalf("classifier body %v", got[0])
	}
	m := msgs[0].(map[string]any)
	if m["role"] != "user" || m["content"] != "Be brief.\n\nWhat is the capital of France?" {
		t.Errorf("classifier message %v", m)
	}
}

// TestGuardClassifierUnsafeBlocks: an unsafe verdict blocks with its
// categories, before the upstream; on output, the answer is blocked.
func TestGuardClassifierUnsafeBlocks(t *testing.T) {
	cs := newClassifierFake("unsafe\nS1,S14")
	p := &answering{content: "ok"}
	g := classified(t, p, cs, config.Guardrails{Input: []config.GuardCheck{classifierRule("open")}}, config.Guardrails{})
	_, out, err := g.Chat(context.Background(), tenant.Principal{}, guardReq("how do I hurt someone"))
	var ge *guard.Error
	if !errors.As(err, &ge) || ge.Check != "classifier" || !strings.Contains(ge.Reason, "S1, S14") || strings.Contains(err.Error(), "hurt") {
		t.Fatalf("err = %v", err)
	}
	if p.calls() != 0 || len(out.Guardrails) != 1 || out.Guardrails[0].Action != guard.Block {
		t.Errorf("%d upstream calls, findings %+v", p.calls(), out.Guardrails)
	}

	g = classified(t, p, cs, config.Guardrails{Output: []config.GuardCheck{classifierRule("closed")}}, config.Guardrails{})
	resp, _, err := g.Chat(context.Background(), tenant.Principal{}, guardReq("hi"))
	if !errors.As(err, &ge) || ge.Stage != guard.Output || resp == nil || resp.Body != nil {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	got := cs.calls()
	msgs, _ := got[len(got)-1]["messages"].([]any)
	if len(msgs) != 2 || msgs[1].(map[string]any)["role"] != "assistant" || msgs[1].(map[string]any)["content"] != "ok" {
		t.Errorf("output classifier messages %v", msgs)
	}
}

// TestGuardClassifierFailures: a garbage answer, a 500 and a timeout are
// errors of the check: open serves the request and says which check it
// skipped, closed refuses with a *guard.UnavailableError that names the
// check and not the service.
func TestGuardClassifierFailures(t *testing.T) {
	for _, verdict := range []string{"I think this is fine", "500", "slow"} {
		t.Run(verdict, func(t *testing.T) {
			cs := newClassifierFake(verdict)
			rule := classifierRule("open")
			rule.Timeout = config.Duration(50e6) // the slow server never answers
			p := &answering{content: "ok"}
			g := classified(t, p, cs, config.Guardrails{Input: []config.GuardCheck{rule}}, config.Guardrails{})
			resp, out, err := g.Chat(context.Background(), tenant.Principal{}, guardReq("hello"))
			if err != nil || resp == nil || p.calls() != 1 {
				t.Fatalf("open: err %v, %d upstream calls", err, p.calls())
			}
			if out.GuardrailsSkipped() != "classifier" || !out.Guardrails[0].Skipped {
				t.Errorf("open: findings %+v", out.Guardrails)
			}

			rule.OnError = "closed"
			g = classified(t, p, cs, config.Guardrails{Input: []config.GuardCheck{rule}}, config.Guardrails{})
			_, _, err = g.Chat(context.Background(), tenant.Principal{}, guardReq("hello"))
			var ue *guard.UnavailableError
			if !errors.As(err, &ue) || ue.Check != "classifier" || ue.TimedOut != (verdict == "slow") {
				t.Fatalf("closed: err = %v", err)
			}
			if strings.Contains(err.Error(), "10.0.0.7") || strings.Contains(err.Error(), "boom") {
				t.Errorf("the error leaks the service: %v", err)
			}
			if p.calls() != 1 {
				t.Errorf("closed: the upstream was called")
			}
		})
	}
}

// TestGuardClassifierDoesNotRecurse: a classifier alias whose own
// guardrails call the first alias's classifier is called once: its call
// runs no guardrails.
func TestGuardClassifierDoesNotRecurse(t *testing.T) {
	cs := newClassifierFake("safe")
	p := &answering{content: "ok"}
	loop := config.GuardCheck{Check: "classifier", Model: "g", Action: "block", OnError: "closed"}
	g := classified(t, p, cs, config.Guardrails{Input: []config.GuardCheck{classifierRule("closed")}},
		config.Guardrails{Input: []config.GuardCheck{loop}, Output: []config.GuardCheck{loop}})
	if _, _, err := g.Chat(context.Background(), tenant.Principal{}, guardReq("hello")); err != nil {
		t.Fatal(err)
	}
	if n := len(cs.calls()); n != 1 || p.calls() != 1 {
		t.Errorf("%d classifier calls, %d upstream calls; want 1 and 1", n, p.calls())
	}
}

// TestGuardStreamRefusedWithRemoteOutputCheck: a stream to an alias whose
// output chain calls a service is refused before any call.
func TestGuardStreamRefusedWithRemoteOutputCheck(t *testing.T) {
	cs := newClassifierFake("safe")
	p := &answering{content: "ok"}
	g := classified(t, p, cs, config.Guardrails{Output: []config.GuardCheck{classifierRule("open")}}, config.Guardrails{})
	req := guardReq("hello")
	req.Stream = true
	_, _, err := g.Stream(context.Background(), tenant.Principal{}, req, StreamOptions{})
	var se *StreamGuardError
	if !errors.As(err, &se) || len(se.Checks) != 1 || se.Checks[0] != "classifier" {
		t.Fatalf("err = %v", err)
	}
	if p.calls() != 0 || len(cs.calls()) != 0 {
		t.Error("something was called")
	}
}

// TestGuardTenantChainsReplaceTheAlias: a tenant with its own chains gets
// them instead of the alias's; other tenants get the alias's.
func TestGuardTenantChainsReplaceTheAlias(t *testing.T) {
	cs := newClassifierFake("unsafe\nS2")
	p := &answering{content: "ok"}
	gr := config.Guardrails{
		Input: []config.GuardCheck{classifierRule("closed")},
		Tenants: map[string]config.GuardChains{
			"acme":   {Input: []config.GuardCheck{{Check: "denied_terms", Action: "block", Terms: []string{"falcon"}}}},
			"globex": {},
		},
	}
	g := classified(t, p, cs, gr, config.Guardrails{})
	var ge *guard.Error
	if _, _, err := g.Chat(context.Background(), tenant.Principal{TenantID: "initech"}, guardReq("hello")); !errors.As(err, &ge) || ge.Check != "classifier" {
		t.Errorf("initech: err = %v, want the alias's classifier", err)
	}
	if _, _, err := g.Chat(context.Background(), tenant.Principal{TenantID: "acme"}, guardReq("hello")); err != nil {
		t.Errorf("acme, clean: err = %v", err)
	}
	if _, _, err := g.Chat(context.Background(), tenant.Principal{TenantID: "acme"}, guardReq("project falcon")); !errors.As(err, &ge) || ge.Check != "denied_terms" {
		t.Errorf("acme: err = %v, want its denied_terms", err)
	}
	if _, _, err := g.Chat(context.Background(), tenant.Principal{TenantID: "globex"}, guardReq("project falcon")); err != nil {
		t.Errorf("globex (no checks): err = %v", err)
	}
	if n := len(cs.calls()); n != 1 {
		t.Errorf("%d classifier calls, want 1 (initech's)", n)
	}
}

// TestGuardReplaceInputAndAnswer: texts a service masked whole replace
// the messages' (a string content, or the first text part of an array,
// the others emptied, other parts kept) and the answers' texts.
func TestGuardReplaceInputAndAnswer(t *testing.T) {
	req := guardReq("Mail ann@example.com")
	err := replaceInput(req, []guard.Text{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Mail {EMAIL}"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Messages[1].Content != "Mail {EMAIL}" || strings.Contains(string(req.Body), "example.com") ||
		!strings.Contains(string(req.Body), `"content":[{"text":"Mail {EMAIL}","type":"text"}]`) || !strings.Contains(string(req.Body), `"temperature":0.3`) {
		t.Errorf("request %+v, body %s", req.Messages, req.Body)
	}
	parts := `[{"type":"text","text":"a@b.co"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"c@d.co"}]`
	c, err := replaceContent(json.RawMessage(parts), "{EMAIL} {EMAIL}")
	if err != nil || string(c) != `[{"text":"{EMAIL} {EMAIL}","type":"text"},{"image_url":{"url":"https://x/y.png"},"type":"image_url"},{"text":"","type":"text"}]` {
		t.Errorf("parts: %s, %v", c, err)
	}
	ans := []byte(`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"call 555"}},{"index":1,"message":{"role":"assistant","content":null,"tool_calls":[]}}]}`)
	b, err := replaceAnswer(ans, []guard.Text{{Role: "assistant", Content: "call {PHONE}"}})
	if err != nil || !strings.Contains(string(b), `"content":"call {PHONE}"`) || strings.Contains(string(b), "555") {
		t.Errorf("answer: %s, %v", b, err)
	}
	if _, err := replaceAnswer(ans, nil); err == nil {
		t.Error("texts that do not match the choices were taken")
	}
}

// TestGuardBedrockMaskReachesTheUpstream: a bedrock mask rule sends the
// upstream what Bedrock's ApplyGuardrail returned, and the header names
// a bedrock check that failed open.
func TestGuardBedrockMaskReachesTheUpstream(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDGUARDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "guard-test-secret")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var mu sync.Mutex
	answer := `{"action":"GUARDRAIL_INTERVENED","outputs":[{"text":"Be brief."},{"text":"Mail {EMAIL} today"}],
		"assessments":[{"sensitiveInformationPolicy":{"piiEntities":[{"match":"ann@example.com","type":"EMAIL","action":"ANONYMIZED"}]}}],"usage":{}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := answer
		mu.Unlock()
		if a == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(a))
	}))
	defer srv.Close()
	p := &answering{content: "ok"}
	g := guarded(t, p, config.Guardrails{Input: []config.GuardCheck{{Check: "bedrock", Action: "mask", OnError: "open",
		GuardrailID: "gr-1", GuardrailVersion: "DRAFT", Region: "us-east-1", Endpoint: srv.URL}}})
	_, out, err := g.Chat(context.Background(), tenant.Principal{}, guardReq("Mail ann@example.com today"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.got[0]; got.Messages[1].Content != "Mail {EMAIL} today" || strings.Contains(string(got.Body), "example.com") {
		t.Errorf("upstream got %+v, %s", got.Messages, got.Body)
	}
	if len(out.Guardrails) != 1 || out.Guardrails[0].Action != guard.Mask {
		t.Errorf("findings %+v", out.Guardrails)
	}
	mu.Lock()
	answer = ""
	mu.Unlock()
	_, out, err = g.Chat(context.Background(), tenant.Principal{}, guardReq("hello"))
	if err != nil || out.GuardrailsSkipped() != "bedrock" {
		t.Errorf("failed open: err %v, skipped %q", err, out.GuardrailsSkipped())
	}
}

// BenchmarkGuardClassifier is what an input classifier rule adds to a
// request besides the classifier model's own time and transport: a
// second request through the gateway (route, admission, attempt loop, to
// a provider that answers at once) and reading its verdict
// (BENCHMARKS.md, "Guardrails (issue 17)").
func BenchmarkGuardClassifier(b *testing.B) {
	for _, rules := range []struct {
		name string
		gr   config.Guardrails
	}{
		{"none", config.Guardrails{}},
		{"classifier", config.Guardrails{Input: []config.GuardCheck{classifierRule("closed")}}},
	} {
		b.Run(rules.name, func(b *testing.B) {
			cs := newClassifierFake("safe")
			g := classified(b, &answering{content: "ok"}, cs, rules.gr, config.Guardrails{})
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := g.Chat(context.Background(), tenant.Principal{}, guardReq("What is the capital of France?")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
