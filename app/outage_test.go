package app

import (
	"net/url"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/faultproxy"
)

// pgBehindProxy returns the URL of a Postgres schema of the test's own
// reached through a faultproxy (with a 1 s connect timeout), and the
// proxy, closed when the test ends. It skips as scaledURLs does.
func pgBehindProxy(t *testing.T) (string, *faultproxy.Proxy) {
	t.Helper()
	pg, _ := scaledURLs(t)
	if !strings.HasPrefix(pg, "postgres://") && !strings.HasPrefix(pg, "postgresql://") {
		t.Skip("the outage tests need a postgres:// URL")
	}
	u, err := url.Parse(pgSchema(t, pg))
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	u.Host = px.Addr()
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	return u.String(), px
}

// Issue 7 item 6: with Postgres unreachable, a replica keeps
// authenticating from the key set it holds and serving, reports degraded,
// and buffers usage records until Postgres is back — nothing lost.
func TestPostgresOutageKeepsServingAndLosesNoUsage(t *testing.T) {
	storeURL, px := pgBehindProxy(t)
	ts := start(t, fastConfig+`
store: {type: postgres, url: "`+storeURL+`"}
`)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}

	px.Cut()
	for i := range 3 {
		if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
			t.Fatalf("chat %d with Postgres down: %d %s", i, resp.StatusCode, body)
		}
	}
	// Readiness shows it after a probe interval at most.
	ts.waitReadyz(t, "Postgres down", func(code int, r readiness) bool {
		return code == 200 && r.Status == "degraded" && r.Checks["store"].Status == "error"
	})

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, ts, "tenant_id=acme", 4)
}

// An admin read while Postgres is unreachable answers 503 in OpenAI's
// error format, saying the store is unavailable, with Retry-After, and
// quotes nothing internal (addresses, the driver's message).
func TestAdminReadsDuringStoreOutageAnswer503(t *testing.T) {
	storeURL, px := pgBehindProxy(t)
	ts := start(t, fastConfig+`
store: {type: postgres, url: "`+storeURL+`"}
`)
	createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	paths := []string{"/admin/v1/usage", "/admin/v1/tenants", "/admin/v1/keys", "/admin/v1/keys?tenant_id=acme"}

	px.Cut()
	for _, path := range paths {
		resp, body := ts.do(t, "GET", path, "")
		e := mustOpenAIError(t, resp, body, 503, "store_unavailable")
		if !strings.Contains(e.Error.Message, "store is unavailable") {
			t.Errorf("GET %s: message %q; want it to say the store is unavailable", path, e.Error.Message)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: no Retry-After", path)
		}
		_, port, _ := strings.Cut(px.Addr(), ":")
		for _, internal := range []string{"127.0.0.1", port, "dial", "connect", "postgres", "tcp"} {
			if strings.Contains(string(body), internal) {
				t.Errorf("GET %s: the body quotes %q: %s", path, internal, body)
			}
		}
	}

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, ts, "tenant_id=acme", 0)
}
