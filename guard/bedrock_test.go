package guard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
)

// applyGuardrailServer speaks Bedrock Guardrails' ApplyGuardrail REST
// JSON (POST /guardrail/{id}/version/{version}/apply) with the answer
// given, and keeps the requests it got.
type applyGuardrailServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	answer string
	reqs   []*http.Request
	bodies []string
}

func newApplyGuardrailServer(t *testing.T) *applyGuardrailServer {
	s := &applyGuardrailServer{status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs, s.bodies = append(s.reqs, r), append(s.bodies, string(b))
		status, answer := s.status, s.answer
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if status != 200 {
			w.Header().Set("X-Amzn-ErrorType", "InternalServerException")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *applyGuardrailServer) set(status int, answer string) {
	s.mu.Lock()
	s.status, s.answer = status, answer
	s.mu.Unlock()
}

// awsTestEnv gives the default credential chain static keys and nothing
// else to find.
func awsTestEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDGUARDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "guard-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func bedrockChain(t *testing.T, st Stage, url, action, onError string) *Chain {
	t.Helper()
	gc := config.GuardCheck{Check: "bedrock", Action: action, OnError: onError, GuardrailID: "gr-abc123", GuardrailVersion: "2", Region: "eu-west-1", Endpoint: url}
	g := config.Guardrails{Input: []config.GuardCheck{gc}}
	if st == Output {
		g = config.Guardrails{Output: []config.GuardCheck{gc}}
	}
	p, err := New(g)
	if err != nil {
		t.Fatal(err)
	}
	if st == Output {
		return p.Output
	}
	return p.Input
}

// TestBedrockRequestIsApplyGuardrail: the request is ApplyGuardrail as
// AWS documents it: its path, SigV4 for the bedrock service in the
// region, and the body with the source and one text block per text.
func TestBedrockRequestIsApplyGuardrail(t *testing.T) {
	awsTestEnv(t)
	s := newApplyGuardrailServer(t)
	s.set(200, `{"action":"NONE","outputs":[],"assessments":[{}],"usage":{"topicPolicyUnits":1}}`)
	c := bedrockChain(t, Input, s.URL, "block", "closed")
	ts := []Text{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello there"}}
	got, found, err := c.Run(t.Context(), Env{}, ts)
	if err != nil || found != nil || &got[0] != &ts[0] {
		t.Fatalf("got %v, %v, %v", got, found, err)
	}
	r := s.reqs[0]
	if r.Method != http.MethodPost || r.URL.Path != "/guardrail/gr-abc123/version/2/apply" {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDGUARDTEST/") || !strings.Contains(a, "/eu-west-1/bedrock/aws4_request") {
		t.Errorf("Authorization = %q", a)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(s.bodies[0]), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"source": "INPUT", "content": []any{
		map[string]any{"text": map[string]any{"text": "Be brief."}},
		map[string]any{"text": map[string]any{"text": "Hello there"}},
	}}
	if b, _ := json.Marshal(body); string(b) != mustJSON(want) {
		t.Errorf("body = %s, want %s", b, mustJSON(want))
	}

	out := bedrockChain(t, Output, s.URL, "block", "closed")
	if _, _, err := out.Run(t.Context(), Env{}, []Text{{Role: "assistant", Content: "Hi"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.bodies[1], `"source":"OUTPUT"`) {
		t.Errorf("output body = %s", s.bodies[1])
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestBedrockMaskUsesItsOutputs: when Bedrock anonymized, a mask rule
// takes its outputs, one per text; the reason names the entity types,
// never the match.
func TestBedrockMaskUsesItsOutputs(t *testing.T) {
	awsTestEnv(t)
	s := newApplyGuardrailServer(t)
	s.set(200, `{"action":"GUARDRAIL_INTERVENED","actionReason":"Guardrail masked.",
		"outputs":[{"text":"Be brief."},{"text":"Mail {EMAIL} today"}],
		"assessments":[{"sensitiveInformationPolicy":{"piiEntities":[{"match":"ann@example.com","type":"EMAIL","action":"ANONYMIZED","detected":true}]}}],
		"usage":{"sensitiveInformationPolicyUnits":1}}`)
	c := bedrockChain(t, Input, s.URL, "mask", "closed")
	ts := []Text{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Mail ann@example.com today"}}
	got, found, err := c.Run(t.Context(), Env{}, ts)
	if err != nil {
		t.Fatal(err)
	}
	if got[1].Content != "Mail {EMAIL} today" || got[1].Role != "user" || ts[1].Content != "Mail ann@example.com today" {
		t.Errorf("texts %+v (given %+v)", got, ts)
	}
	if len(found) != 1 || !found[0].Replaced || found[0].Action != Mask || found[0].Reason != "the Bedrock guardrail intervened: pii EMAIL anonymized" {
		t.Errorf("findings %+v", found)
	}
}

// TestBedrockBlocks: a policy that blocked blocks, even under a mask
// rule; a log rule only reports it.
func TestBedrockBlocks(t *testing.T) {
	awsTestEnv(t)
	s := newApplyGuardrailServer(t)
	s.set(200, `{"action":"GUARDRAIL_INTERVENED","outputs":[{"text":"Sorry, I cannot help with that."}],
		"assessments":[{"contentPolicy":{"filters":[{"type":"VIOLENCE","confidence":"HIGH","filterStrength":"HIGH","action":"BLOCKED","detected":true}]},
		"topicPolicy":{"topics":[{"name":"weapons","type":"DENY","action":"BLOCKED","detected":true}]}}],"usage":{}}`)
	ts := []Text{{Role: "user", Content: "something violent"}}
	var ge *Error
	for _, action := range []string{"block", "mask"} {
		_, found, err := bedrockChain(t, Input, s.URL, action, "open").Run(t.Context(), Env{}, ts)
		if !errors.As(err, &ge) || ge.Check != "bedrock" || ge.Reason != "the Bedrock guardrail intervened: content VIOLENCE blocked, topic weapons blocked" {
			t.Errorf("%s: err = %v", action, err)
		}
		if len(found) != 1 || found[0].Action != Block {
			t.Errorf("%s: findings %+v", action, found)
		}
	}
	got, found, err := bedrockChain(t, Input, s.URL, "log", "open").Run(t.Context(), Env{}, ts)
	if err != nil || len(found) != 1 || found[0].Action != Log || got[0].Content != ts[0].Content {
		t.Errorf("log: %v, %+v, %v", got, found, err)
	}
}

// TestBedrockFailures: an error of the service applies on_error; the
// error names the check, never the endpoint.
func TestBedrockFailures(t *testing.T) {
	awsTestEnv(t)
	s := newApplyGuardrailServer(t)
	s.set(500, `{"message":"internal failure at 10.0.0.7"}`)
	ts := []Text{{Role: "user", Content: "hi"}}
	_, _, err := bedrockChain(t, Input, s.URL, "block", "closed").Run(t.Context(), Env{}, ts)
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Check != "bedrock" || ue.TimedOut {
		t.Fatalf("closed: err = %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "10.0.0.7") {
		t.Errorf("the error leaks the service: %s", msg)
	}
	got, found, err := bedrockChain(t, Input, s.URL, "block", "open").Run(t.Context(), Env{}, ts)
	if err != nil || len(found) != 1 || !found[0].Skipped || got[0].Content != "hi" {
		t.Errorf("open: %v, %+v, %v", got, found, err)
	}
	s.set(200, `{"action":"MAYBE","outputs":[],"assessments":[]}`)
	if _, _, err := bedrockChain(t, Input, s.URL, "block", "closed").Run(t.Context(), Env{}, ts); !errors.As(err, &ue) {
		t.Errorf("unknown action: err = %v", err)
	}
}
