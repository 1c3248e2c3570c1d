package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// pricedConfig is fastConfig with a price for its chat target.
const pricedConfig = fastConfig + `
prices:
  fast/fast-chat: {input: 1.0, output: 2.0}
`

// createKey creates a tenant (if id is new) and a key in it from the JSON
// fields given, and returns the key's id and secret.
func createKey(t *testing.T, ts *testServer, tenantJSON, keyJSON string) (id, secret string) {
	t.Helper()
	if tenantJSON != "" {
		resp, body := ts.do(t, "POST", "/admin/v1/tenants", tenantJSON)
		if resp.StatusCode != 201 {
			t.Fatalf("create tenant: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := ts.do(t, "POST", "/admin/v1/keys", keyJSON)
	if resp.StatusCode != 201 {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Secret == "" {
		t.Fatalf("created key: %v %s", err, body)
	}
	return k.ID, k.Secret
}

const chatBody = `{"model":"chat","messages":[{"role":"user","content":"hello"}],"max_tokens":16}`

type usageAnswer struct {
	GroupBy string `json:"group_by"`
	Data    []struct {
		Group            string  `json:"group"`
		Requests         int64   `json:"requests"`
		Errors           int64   `json:"errors"`
		PromptTokens     int64   `json:"prompt_tokens"`
		CompletionTokens int64   `json:"completion_tokens"`
		Cost             int64   `json:"cost_nanodollars"`
		CostUSD          float64 `json:"cost_usd"`
	} `json:"data"`
}

// waitUsage polls the usage API until it answers and reports want
// requests in total (the writer flushes every second), and returns the
// answer.
func waitUsage(t *testing.T, ts *testServer, query string, want int64, hdr ...string) usageAnswer {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := ts.do(t, "GET", "/admin/v1/usage?"+query, "", hdr...)
		if resp.StatusCode != 200 {
			// The store may still be reconnecting after an outage.
			if time.Now().After(deadline) {
				t.Fatalf("usage: %d %s", resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var u usageAnswer
		if err := json.Unmarshal(body, &u); err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range u.Data {
			n += r.Requests
		}
		if n == want {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage?%s reports %d requests after 5s; want %d: %s", query, n, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUsageRecordedOncePerRequestAndPriced(t *testing.T) {
	ts := start(t, pricedConfig)
	keyID, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	for range 3 {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
		if resp.StatusCode != 200 {
			t.Fatalf("chat: %d %s", resp.StatusCode, body)
		}
	}
	resp, _ := ts.do(t, "POST", "/v1/chat/completions", strings.Replace(chatBody, `}`, `,"stream":true}`, 1)+"", "Authorization", auth)
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	u := waitUsage(t, ts, "tenant_id=acme&group_by=key", 4)
	if len(u.Data) != 1 || u.Data[0].Group != keyID {
		t.Fatalf("usage by key = %+v; want one row for %s", u.Data, keyID)
	}
	r := u.Data[0]
	if r.Errors != 0 || r.PromptTokens == 0 || r.CompletionTokens == 0 || r.Cost <= 0 || r.CostUSD <= 0 {
		t.Errorf("usage row = %+v; want tokens and a cost", r)
	}
	// 1 $/M input, 2 $/M output: cost in nano-dollars is input + 2×output
	// tokens, times 1000.
	if want := (r.PromptTokens + 2*r.CompletionTokens) * 1000; r.Cost != want {
		t.Errorf("cost = %d nano-dollars; want %d", r.Cost, want)
	}
	// By day and by alias too; a bad grouping is a 400.
	waitUsage(t, ts, "group_by=alias&alias=chat", 4)
	waitUsage(t, ts, "tenant_id=acme&from="+time.Now().UTC().Format("2006-01-02"), 4)
	resp, body := ts.do(t, "GET", "/admin/v1/usage?group_by=week", "")
	mustOpenAIError(t, resp, body, 400, "")
}

func TestKeyLimitRefusesWith429AndRateLimitHeaders(t *testing.T) {
	ts := start(t, fastConfig)
	_, secret := createKey(t, ts, `{"id":"acme","limits":{"tokens_per_minute":100000}}`,
		`{"tenant_id":"acme","name":"app","limits":{"requests_per_minute":2}}`)
	auth := "Bearer " + secret
	for i := range 2 {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		h := resp.Header
		if h.Get("x-ratelimit-limit-requests") != "2" || h.Get("x-ratelimit-remaining-requests") != fmt.Sprint(1-i) ||
			h.Get("x-ratelimit-reset-requests") == "" || h.Get("x-ratelimit-limit-tokens") != "100000" {
			t.Errorf("request %d rate-limit headers = %v", i, h)
		}
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
	e := mustOpenAIError(t, resp, body, http.StatusTooManyRequests, "rate_limit_exceeded")
	if e.Error.Type != "rate_limit_error" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("refusal = %+v, Retry-After %q", e, resp.Header.Get("Retry-After"))
	}
	if strings.Contains(string(body), secret) {
		t.Errorf("refusal reveals the key's secret")
	}
	// Embeddings and streams count against the same limit.
	resp, body = ts.do(t, "POST", "/v1/embeddings", `{"model":"embed","input":"x"}`, "Authorization", auth)
	mustOpenAIError(t, resp, body, http.StatusTooManyRequests, "rate_limit_exceeded")

	// Raising the limit takes effect at once.
	var keyID string
	_, body = ts.do(t, "GET", "/admin/v1/keys?tenant_id=acme", "")
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("keys: %v %s", err, body)
	}
	keyID = list.Data[0].ID
	resp, body = ts.do(t, "PATCH", "/admin/v1/keys/"+keyID, `{"limits":{"requests_per_minute":10}}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"requests_per_minute":10`) {
		t.Fatalf("patch key: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
	if resp.StatusCode != 200 {
		t.Fatalf("after raising the limit: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "PATCH", "/admin/v1/keys/"+keyID, `{"limits":{"requests_per_minute":-1}}`)
	mustOpenAIError(t, resp, body, 400, "")
	resp, body = ts.do(t, "PATCH", "/admin/v1/tenants/nope", `{"limits":{"concurrent":1}}`)
	mustOpenAIError(t, resp, body, 404, "")
}

func TestTenantLimitAppliesAcrossItsKeys(t *testing.T) {
	ts := start(t, fastConfig)
	_, s1 := createKey(t, ts, `{"id":"acme","limits":{"requests_per_minute":3}}`, `{"tenant_id":"acme","name":"one"}`)
	_, s2 := createKey(t, ts, "", `{"tenant_id":"acme","name":"two"}`)
	ok := 0
	for i := range 6 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		resp, _ := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+s)
		if resp.StatusCode == 200 {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("%d requests accepted across the tenant's keys; want 3", ok)
	}
}

func TestRedisUnreachableServesDegraded(t *testing.T) {
	ts := start(t, fastConfig+`
limits: {backend: redis, redis_url: "redis://127.0.0.1:1/0", fallback_share: 0.5}
`)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app","limits":{"requests_per_minute":4}}`)
	ok := 0
	for range 4 {
		resp, _ := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret)
		if resp.StatusCode == 200 {
			ok++
		}
	}
	// Half of the limit is enforced locally.
	if ok != 2 {
		t.Errorf("%d requests accepted with Redis down and share 0.5 of 4; want 2", ok)
	}
	resp, body := ts.do(t, "GET", "/readyz", "", "Authorization", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"degraded"`) {
		t.Errorf("readyz with Redis down: %d %s; want 200 and degraded", resp.StatusCode, body)
	}
}

// Issue 7 item 9: isolation between tenants, and expired and revoked keys.
func TestIsolation(t *testing.T) {
	ts := start(t, fastConfig)
	_, userA := createKey(t, ts, `{"id":"a"}`, `{"tenant_id":"a","name":"app"}`)
	_, adminA := createKey(t, ts, "", `{"tenant_id":"a","name":"ops","admin":true}`)
	_, userB := createKey(t, ts, `{"id":"b"}`, `{"tenant_id":"b","name":"app"}`)
	for _, s := range []string{userA, userB} {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+s)
		if resp.StatusCode != 200 {
			t.Fatalf("chat: %d %s", resp.StatusCode, body)
		}
	}
	waitUsage(t, ts, "group_by=tenant", 2)

	// A tenant's ordinary key cannot call the admin API at all.
	for _, path := range []string{"/admin/v1/usage", "/admin/v1/usage?tenant_id=b", "/admin/v1/keys", "/admin/v1/keys?tenant_id=b", "/admin/v1/tenants"} {
		resp, body := ts.do(t, "GET", path, "", "Authorization", "Bearer "+userA)
		mustOpenAIError(t, resp, body, http.StatusForbidden, "admin_required")
	}
	// An admin key of tenant a sees only a's usage.
	u := waitUsage(t, ts, "group_by=tenant", 1, "Authorization", "Bearer "+adminA)
	if len(u.Data) != 1 || u.Data[0].Group != "a" {
		t.Errorf("tenant a's admin sees usage %+v; want only a's", u.Data)
	}
	resp, body := ts.do(t, "GET", "/admin/v1/usage?tenant_id=b", "", "Authorization", "Bearer "+adminA)
	mustOpenAIError(t, resp, body, http.StatusNotFound, "not_found")

	// It sees and manages only a's tenant and keys.
	asA := []string{"Authorization", "Bearer " + adminA}
	_, body = ts.do(t, "GET", "/admin/v1/keys", "", asA...)
	if strings.Contains(string(body), `"tenant_id":"b"`) || !strings.Contains(string(body), `"tenant_id":"a"`) {
		t.Errorf("tenant a's admin lists keys %s", body)
	}
	_, body = ts.do(t, "GET", "/admin/v1/tenants", "", asA...)
	if strings.Contains(string(body), `"id":"b"`) || strings.Contains(string(body), `"id":"default"`) {
		t.Errorf("tenant a's admin lists tenants %s", body)
	}
	_, body = ts.do(t, "GET", "/admin/v1/keys?tenant_id=b", "")
	var bKeys struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &bKeys); err != nil || len(bKeys.Data) != 1 {
		t.Fatalf("b's keys: %v %s", err, body)
	}
	bKey := bKeys.Data[0].ID
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/admin/v1/keys?tenant_id=b", ""},
		{"GET", "/admin/v1/keys/" + bKey, ""},
		{"POST", "/admin/v1/keys/" + bKey + "/revoke", ""},
		{"PATCH", "/admin/v1/keys/" + bKey, `{"limits":{"requests_per_minute":1}}`},
		{"POST", "/admin/v1/keys", `{"tenant_id":"b","name":"sneaky"}`},
		{"GET", "/admin/v1/tenants/b", ""},
	} {
		resp, body := ts.do(t, c.method, c.path, c.body, asA...)
		mustOpenAIError(t, resp, body, http.StatusNotFound, "not_found")
	}
	resp, body = ts.do(t, "POST", "/admin/v1/tenants", `{"id":"c"}`, asA...)
	mustOpenAIError(t, resp, body, http.StatusForbidden, "operator_required")
	resp, body = ts.do(t, "PATCH", "/admin/v1/tenants/a", `{"limits":{"requests_per_minute":0}}`, asA...)
	mustOpenAIError(t, resp, body, http.StatusForbidden, "operator_required")
	// b's key still works.
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+userB); resp.StatusCode != 200 {
		t.Errorf("b's key after a's attempts: %d %s", resp.StatusCode, body)
	}

	// Expired and revoked keys are refused.
	_, expiring := createKey(t, ts, "", `{"tenant_id":"a","name":"short","expires_in":"50ms"}`)
	time.Sleep(100 * time.Millisecond)
	resp, body = ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+expiring)
	mustOpenAIError(t, resp, body, http.StatusUnauthorized, "")
	revokedID, revoked := createKey(t, ts, "", `{"tenant_id":"b","name":"gone"}`)
	if resp, body := ts.do(t, "POST", "/admin/v1/keys/"+revokedID+"/revoke", ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+revoked)
	mustOpenAIError(t, resp, body, http.StatusUnauthorized, "")
}

func TestReloadSwapsPricesAndKeepsStoreSettings(t *testing.T) {
	ts := start(t, pricedConfig)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	first := waitUsage(t, ts, "tenant_id=acme", 1).Data[0].Cost
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(strings.Replace(pricedConfig, "{input: 1.0, output: 2.0}", "{input: 10.0, output: 20.0}", 1)+`
store: {type: sqlite}
limits: {backend: redis, redis_url: "redis://127.0.0.1:1/0"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if c := ts.app.Config(); c.Limits.Backend != "" {
		t.Errorf("limits settings changed by a reload: %+v", c.Limits)
	}
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	total := waitUsage(t, ts, "tenant_id=acme", 2).Data[0].Cost
	if total != first+10*first {
		t.Errorf("cost after a tenfold price = %d; want %d", total-first, 10*first)
	}
	// A bad price is refused and the old table stays.
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(fastConfig+"\nprices: {x: {input: -1}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err == nil {
		t.Error("Reload accepted a negative price")
	}
}

// Issue 7 item 8: every admin action is in the audit log, with who, what,
// when and from where.
func TestAuditLogRecordsAdminActions(t *testing.T) {
	ts := start(t, fastConfig)
	keyID, _ := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	_, adminB := createKey(t, ts, `{"id":"beta"}`, `{"tenant_id":"beta","name":"ops","admin":true}`)
	if resp, body := ts.do(t, "PATCH", "/admin/v1/keys/"+keyID, `{"limits":{"concurrent":2}}`); resp.StatusCode != 200 {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "POST", "/admin/v1/keys/"+keyID+"/revoke", ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	var audit struct {
		Data []struct {
			Time         time.Time `json:"time"`
			KeyID        string    `json:"key_id"`
			TenantID     string    `json:"tenant_id"`
			Action       string    `json:"action"`
			Target       string    `json:"target"`
			TargetTenant string    `json:"target_tenant"`
			Remote       string    `json:"remote"`
		} `json:"data"`
	}
	resp, body := ts.do(t, "GET", "/admin/v1/audit?tenant_id=acme", "")
	if resp.StatusCode != 200 || json.Unmarshal(body, &audit) != nil {
		t.Fatalf("audit: %d %s", resp.StatusCode, body)
	}
	var actions []string
	for _, e := range audit.Data {
		actions = append(actions, e.Action)
		if e.KeyID == "" || e.TenantID != "default" || e.Remote != "127.0.0.1" || e.Time.IsZero() || e.TargetTenant != "acme" {
			t.Errorf("audit entry %+v", e)
		}
	}
	if got := strings.Join(actions, ","); got != "key.revoke,key.limits,key.create,tenant.create" {
		t.Errorf("audit actions, newest first = %s", got)
	}
	if strings.Contains(string(body), "bk-") {
		t.Errorf("the audit log shows a secret: %s", body)
	}
	// A tenant's admin sees only the actions on its tenant.
	_, body = ts.do(t, "GET", "/admin/v1/audit", "", "Authorization", "Bearer "+adminB)
	if strings.Contains(string(body), `"acme"`) || !strings.Contains(string(body), `"beta"`) {
		t.Errorf("beta's admin sees %s", body)
	}
}

// Usage is grouped by a tag: a request carries its key's tags over its
// tenant's, and requests without the tag form the "" group.
func TestUsageByTag(t *testing.T) {
	ts := start(t, pricedConfig)
	_, search := createKey(t, ts, `{"id":"acme","tags":{"team":"search"}}`, `{"tenant_id":"acme","name":"a"}`)
	_, support := createKey(t, ts, `{"id":"initech","tags":{"team":"ops"}}`, `{"tenant_id":"initech","name":"b","tags":{"team":"support"}}`) // the key's tag wins
	_, plain := createKey(t, ts, `{"id":"globex"}`, `{"tenant_id":"globex","name":"c"}`)
	for secret, n := range map[string]int{search: 2, support: 3, plain: 1} {
		for range n {
			if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret); resp.StatusCode != 200 {
				t.Fatalf("chat: %d %s", resp.StatusCode, body)
			}
		}
	}
	u := waitUsage(t, ts, "group_by=tag:team", 6)
	got := map[string]int64{}
	for _, r := range u.Data {
		got[r.Group] = r.Requests
	}
	if want := map[string]int64{"": 1, "search": 2, "support": 3}; !maps.Equal(got, want) {
		t.Errorf("usage by tag team = %v; want %v", got, want)
	}
	resp, body := ts.do(t, "GET", "/admin/v1/usage?group_by=tag:bad%22name", "")
	mustOpenAIError(t, resp, body, 400, "")
}

// TestPatchMergesLimits: a PATCH that gives one limit keeps the others
// (0 clears one), for keys and tenants alike.
func TestPatchMergesLimits(t *testing.T) {
	ts := start(t, fastConfig)
	keyID, _ := createKey(t, ts, `{"id":"acme","limits":{"tokens_per_minute":1000,"concurrent":8}}`,
		`{"tenant_id":"acme","name":"app","limits":{"requests_per_minute":5,"concurrent":4}}`)
	limits := func(path string) map[string]int {
		t.Helper()
		resp, body := ts.do(t, "GET", path, "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		var obj struct {
			Limits map[string]int `json:"limits"`
		}
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		return obj.Limits
	}
	for _, step := range []struct {
		path, patch string
		want        map[string]int
	}{
		{"/admin/v1/keys/" + keyID, `{"limits":{"requests_per_minute":1}}`, map[string]int{"requests_per_minute": 1, "concurrent": 4}},
		{"/admin/v1/keys/" + keyID, `{"limits":{"concurrent":0}}`, map[string]int{"requests_per_minute": 1}},
		{"/admin/v1/tenants/acme", `{"limits":{"requests_per_minute":50}}`, map[string]int{"requests_per_minute": 50, "tokens_per_minute": 1000, "concurrent": 8}},
		{"/admin/v1/tenants/acme", `{"limits":{}}`, map[string]int{"requests_per_minute": 50, "tokens_per_minute": 1000, "concurrent": 8}},
	} {
		resp, body := ts.do(t, "PATCH", step.path, step.patch)
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH %s %s: %d %s", step.path, step.patch, resp.StatusCode, body)
		}
		if got := limits(step.path); !maps.Equal(got, step.want) {
			t.Errorf("after PATCH %s %s: limits %v; want %v", step.path, step.patch, got, step.want)
		}
	}
}
