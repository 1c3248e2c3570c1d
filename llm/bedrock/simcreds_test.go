package bedrock

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// noAWSCredentials makes the default chain find no credentials: no AWS_*
// variables (this machine sets AWS_CA_BUNDLE, among others), empty config
// and credentials files, no home to find others in, no instance metadata.
func noAWSCredentials(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		f := filepath.Join(dir, strings.ToLower(k))
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(k, f)
	}
	t.Setenv("HOME", dir)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// simServer serves a simulator with model and records the Authorization
// header of every request.
func simServer(t *testing.T, model string) (url string, auths func() []string) {
	t.Helper()
	s := sim.New("sim", 1, map[string]config.SimModel{model: {}})
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Pointed at the simulator on a machine without AWS credentials, the
// client signs with the dummy credentials and its calls go through; it
// says so once, without anything secret.
func TestEndpointWithoutCredentialsUsesSimCredentials(t *testing.T) {
	noAWSCredentials(t)
	const model = "anthropic.claude-sim"
	url, auths := simServer(t, model)
	var logs syncBuffer
	c, err := New(t.Context(), Options{Name: "drill", Region: "us-east-1", Endpoint: url,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":16}`
	if _, err := c.Chat(t.Context(), chatRequest(model, body)); err != nil {
		t.Fatalf("chat: %v", err)
	}
	s, err := c.Stream(t.Context(), chatRequest(model, body))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	drain(t, s)
	s.Close()
	got := auths()
	if len(got) != 2 {
		t.Fatalf("%d requests reached the simulator, want 2", len(got))
	}
	for _, a := range got {
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential="+SimAccessKeyID+"/") {
			t.Errorf("Authorization %q, want a signature with the dummy access key", a)
		}
	}
	out := logs.String()
	if strings.Count(out, "dummy credentials") != 1 || !strings.Contains(out, "provider=drill") || !strings.Contains(out, "access_key_id="+SimAccessKeyID) {
		t.Errorf("log %q, want one notice of the dummy credentials", out)
	}
	for _, s := range []string{"secret", "failed", "error"} {
		if strings.Contains(strings.ToLower(out), s) {
			t.Errorf("log %q holds %q", out, s)
		}
	}
}

// Credentials the chain does find are used, endpoint or not, and nothing
// is logged.
func TestEndpointKeepsTheChainsCredentials(t *testing.T) {
	noAWSCredentials(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	const model = "anthropic.claude-sim"
	url, auths := simServer(t, model)
	var logs syncBuffer
	c, err := New(t.Context(), Options{Name: "drill", Region: "us-east-1", Endpoint: url,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(t.Context(), chatRequest(model, userHi)); err != nil {
		t.Fatal(err)
	}
	if got := auths(); len(got) != 1 || !strings.HasPrefix(got[0], "AWS4-HMAC-SHA256 Credential="+testKeyID+"/") {
		t.Errorf("Authorization %q, want the environment's key", got)
	}
	if logs.String() != "" {
		t.Errorf("log %q, want none", logs.String())
	}
}

// Without an endpoint (the real Bedrock), missing credentials stay an
// authentication error on every call, and nothing is sent.
func TestNoEndpointWithoutCredentialsIsAnAuthError(t *testing.T) {
	noAWSCredentials(t)
	f := &fake{body: []byte(okAnswer)}
	var logs syncBuffer
	c, err := New(t.Context(), Options{Name: "bedrock-test", Region: "us-east-1", HTTPClient: f.client(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = c.Chat(t.Context(), chatRequest("m", userHi))
		if e := asLLMError(t, err); e.Kind != llm.KindAuth {
			t.Errorf("%+v, want an authentication error", e)
		}
	}
	if len(f.bodies) != 0 {
		t.Error("a request without credentials was sent")
	}
	if logs.String() != "" {
		t.Errorf("log %q, want none", logs.String())
	}
}
