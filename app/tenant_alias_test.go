package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tenantAliasConfig has a shared "chat", one fine-tuned alias per tenant
// (each restricted to its tenant) and a "queue" alias of one slow slot and
// one queue place, to see the priority class admission gives a request.
const tenantAliasConfig = `
log: {level: warn}
server: {max_inflight: 100, max_queued: 10}
providers:
  s:
    type: sim
    models:
      base-chat: {output_tokens: {min: 3, max: 3}}
      acme-ft: {output_tokens: {min: 3, max: 3}}
      globex-ft: {output_tokens: {min: 3, max: 3}}
      slow: {ttft: {p50: 300ms}, output_tokens: {min: 4, max: 4}}
models:
  - name: chat
    targets: [{provider: s, model: base-chat}]
  - name: acme-chat-ft
    targets: [{provider: s, model: acme-ft}]
    tenants: [acme]
  - name: globex-chat-ft
    targets: [{provider: s, model: globex-ft}]
    tenants: [globex]
  - name: queue
    targets: [{provider: s, model: slow}]
    capacity: {initial_limit: 1, max_limit: 1, queue: 1, critical_reserve: 0}
`

// chatAs sends a chat completion for model with the secret and returns the
// response and its body.
func (ts *testServer) chatAs(t *testing.T, secret, model string, stream bool) (*http.Response, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello"}],"max_tokens":8,"stream":%v}`, model, stream)
	return ts.do(t, "POST", "/v1/chat/completions", body, "Authorization", "Bearer "+secret)
}

// modelIDs lists GET /v1/models as the secret sees it.
func (ts *testServer) modelIDs(t *testing.T, secret string) []string {
	t.Helper()
	resp, body := ts.do(t, "GET", "/v1/models", "", "Authorization", "Bearer "+secret)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/models: %d %s", resp.StatusCode, body)
	}
	var list struct{ Data []struct{ ID string } }
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(list.Data))
	for i, m := range list.Data {
		ids[i] = m.ID
	}
	return ids
}

// Two tenants' "chat" go to their own fine-tuned models, a third's to the
// shared one; a key's alias overrides its tenant's; the key's allowed
// models apply to the name the client sent; the ledger names the route
// used.
func TestTenantAliasesRouteEachTenantsChat(t *testing.T) {
	ts := start(t, tenantAliasConfig)
	_, acme := createKey(t, ts, `{"id":"acme","aliases":{"chat":"acme-chat-ft"}}`, `{"tenant_id":"acme","name":"app"}`)
	_, globex := createKey(t, ts, `{"id":"globex","aliases":{"chat":"globex-chat-ft"}}`, `{"tenant_id":"globex","name":"app"}`)
	_, plain := createKey(t, ts, `{"id":"plain"}`, `{"tenant_id":"plain","name":"app"}`)
	_, acmeShared := createKey(t, ts, "", `{"tenant_id":"acme","name":"shared","aliases":{"chat":"chat"}}`)
	_, acmeOnlyChat := createKey(t, ts, "", `{"tenant_id":"acme","name":"only-chat","models":["chat"]}`)

	for _, tc := range []struct {
		who, secret, target string
	}{
		{"acme", acme, "s/acme-ft"},
		{"globex", globex, "s/globex-ft"},
		{"plain", plain, "s/base-chat"},
		{"acme key mapping chat back to the shared alias", acmeShared, "s/base-chat"},
		{"acme key allowed only chat", acmeOnlyChat, "s/acme-ft"},
	} {
		for _, stream := range []bool{false, true} {
			resp, body := ts.chatAs(t, tc.secret, "chat", stream)
			if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Target") != tc.target {
				t.Errorf("%s (stream %v): chat = %d, target %q; want 200 from %s: %s",
					tc.who, stream, resp.StatusCode, resp.Header.Get("X-Bulwark-Target"), tc.target, body)
			}
		}
	}
	// The response's model is the upstream's, as without a mapping.
	_, body := ts.chatAs(t, acme, "chat", false)
	var out struct{ Model string }
	if err := json.Unmarshal(body, &out); err != nil || out.Model != "acme-ft" {
		t.Errorf("acme's chat answered model %q (%v); want the upstream's acme-ft", out.Model, err)
	}
	// Allowed models name what the client sends: a key allowed "chat" may
	// not call the alias its chat maps to by that alias's name.
	resp, body := ts.chatAs(t, acmeOnlyChat, "acme-chat-ft", false)
	mustOpenAIError(t, resp, body, http.StatusForbidden, "model_not_allowed")
	if ids := ts.modelIDs(t, acmeOnlyChat); !slices.Equal(ids, []string{"chat"}) {
		t.Errorf("models of a key allowed only chat = %q", ids)
	}

	// The usage ledger's alias column names the route used, not the name
	// the client sent (every request above sent "chat"); the forbidden
	// request reserved nothing and is not recorded.
	u := waitUsage(t, ts, "group_by=alias", 11)
	byAlias := map[string]int64{}
	for _, r := range u.Data {
		byAlias[r.Group] = r.Requests
	}
	if want := map[string]int64{"acme-chat-ft": 5, "globex-chat-ft": 2, "chat": 4}; !maps.Equal(byAlias, want) {
		t.Errorf("usage by alias = %v; want %v", byAlias, want)
	}
}

// An alias restricted to some tenants does not exist for the others: not
// callable (404, not 403), not listed, not a mapping target. A mapping
// whose alias a reload removed answers 404 naming what the client sent.
func TestTenantRestrictedAliasIsInvisible(t *testing.T) {
	ts := start(t, tenantAliasConfig)
	_, acme := createKey(t, ts, `{"id":"acme","aliases":{"chat":"acme-chat-ft"}}`, `{"tenant_id":"acme","name":"app"}`)
	_, globex := createKey(t, ts, `{"id":"globex"}`, `{"tenant_id":"globex","name":"app"}`)

	resp, body := ts.chatAs(t, globex, "acme-chat-ft", false)
	e := mustOpenAIError(t, resp, body, http.StatusNotFound, "model_not_found")
	if !strings.Contains(e.Error.Message, `"acme-chat-ft"`) {
		t.Errorf("404 message %q does not name the model", e.Error.Message)
	}
	resp, body = ts.do(t, "GET", "/v1/models/acme-chat-ft", "", "Authorization", "Bearer "+globex)
	mustOpenAIError(t, resp, body, http.StatusNotFound, "model_not_found")
	// (sim-chat and sim-embed are the built-in simulator's and local-embed
	// the built-in embedding model, served to all.)
	if ids := ts.modelIDs(t, globex); !slices.Equal(ids, []string{"chat", "globex-chat-ft", "local-embed", "queue", "sim-chat", "sim-embed"}) {
		t.Errorf("globex's models = %q; want chat, globex-chat-ft, local-embed, queue, sim-chat, sim-embed", ids)
	}
	if ids := ts.modelIDs(t, acme); !slices.Equal(ids, []string{"acme-chat-ft", "chat", "local-embed", "queue", "sim-chat", "sim-embed"}) {
		t.Errorf("acme's models = %q; want acme-chat-ft, chat, local-embed, queue, sim-chat, sim-embed", ids)
	}
	if resp, body := ts.chatAs(t, acme, "acme-chat-ft", false); resp.StatusCode != 200 {
		t.Errorf("acme calling its own alias: %d %s", resp.StatusCode, body)
	}
	// The default tenant's operator key is a tenant like any other here.
	resp, body = ts.chatAs(t, testAdminKey, "globex-chat-ft", false)
	mustOpenAIError(t, resp, body, http.StatusNotFound, "model_not_found")

	// Mapping to it, or to a model that does not exist, is refused.
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/admin/v1/tenants/globex", `{"aliases":{"chat":"acme-chat-ft"}}`},
		{"PATCH", "/admin/v1/tenants/globex", `{"aliases":{"chat":"no-such-model"}}`},
		{"POST", "/admin/v1/tenants", `{"id":"initech","aliases":{"chat":"acme-chat-ft"}}`},
		{"POST", "/admin/v1/keys", `{"tenant_id":"globex","aliases":{"x":"acme-chat-ft"}}`},
	} {
		resp, body := ts.do(t, c.method, c.path, c.body)
		mustOpenAIError(t, resp, body, http.StatusBadRequest, "")
	}
	if ids := ts.modelIDs(t, globex); slices.Contains(ids, "acme-chat-ft") {
		t.Errorf("a refused mapping changed globex's models: %q", ids)
	}

	// A reload removes acme's alias: acme's chat is a 404 naming "chat",
	// and "chat" leaves acme's list; the shared chat still serves others.
	cfg := strings.Replace(tenantAliasConfig, `  - name: acme-chat-ft
    targets: [{provider: s, model: acme-ft}]
    tenants: [acme]
`, "", 1)
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, body = ts.chatAs(t, acme, "chat", false)
	e = mustOpenAIError(t, resp, body, http.StatusNotFound, "model_not_found")
	if !strings.Contains(e.Error.Message, `"chat"`) {
		t.Errorf("404 after the reload says %q; want it to name chat, the model the client sent", e.Error.Message)
	}
	if ids := ts.modelIDs(t, acme); !slices.Equal(ids, []string{"local-embed", "queue", "sim-chat", "sim-embed"}) {
		t.Errorf("acme's models after the reload = %q; want local-embed, queue, sim-chat, sim-embed", ids)
	}
	if resp, body := ts.chatAs(t, globex, "chat", false); resp.StatusCode != 200 {
		t.Errorf("globex's chat after the reload: %d %s", resp.StatusCode, body)
	}
}

// The priority class set on a key, or inherited from its tenant, reaches
// admission control: with the target's slot and queue full of a tenant's
// interactive requests, its batch requests sent without any priority
// header are shed as batch. (A waiter is displaced only by a more
// important arrival or by one of a tenant holding less, so each round
// fills the target from the arriving request's own tenant.)
func TestPriorityFromKeyAndTenantReachesAdmission(t *testing.T) {
	ts := start(t, tenantAliasConfig)
	_, acmeFill := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"fill"}`)
	_, keyBatch := createKey(t, ts, "", `{"tenant_id":"acme","name":"batch","priority":"batch"}`)
	// A key's own class wins over its tenant's: nightly's filler queues as
	// interactive.
	_, nightlyFill := createKey(t, ts, `{"id":"nightly","priority":"batch"}`, `{"tenant_id":"nightly","name":"fill","priority":"interactive"}`)
	_, tenantBatch := createKey(t, ts, "", `{"tenant_id":"nightly","name":"inherits"}`)

	// slow returns the queue alias's target's state.
	slow := func() (inflight, queued int, shed map[string]int64) {
		shed = map[string]int64{}
		for _, tg := range ts.capacity(t).Targets {
			if tg.Target != "s/slow" {
				continue
			}
			for class, reasons := range tg.Shed {
				for _, n := range reasons {
					shed[class] += n
				}
			}
			return tg.Inflight, tg.Queued["interactive"], shed
		}
		return 0, 0, shed
	}
	for _, round := range []struct{ fill, batch string }{{acmeFill, keyBatch}, {nightlyFill, tenantBatch}} {
		var wg sync.WaitGroup
		for range 2 { // one in flight, one queued
			wg.Go(func() {
				if resp, body := ts.chatAs(t, round.fill, "queue", false); resp.StatusCode != 200 {
					t.Errorf("filler: %d %s", resp.StatusCode, body)
				}
			})
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if inflight, queued, _ := slow(); inflight == 1 && queued == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the target never had one interactive call in flight and one queued")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if resp, body := ts.chatAs(t, round.batch, "queue", false); resp.StatusCode == 200 {
			t.Errorf("a batch request to a full target was served: %s", body)
		}
		wg.Wait()
	}
	if _, _, shed := slow(); !maps.Equal(shed, map[string]int64{"batch": 2}) {
		t.Errorf("sheds by class = %v; want 2 batch (the key's class and the tenant's) and no other", shed)
	}
}

type attributesWire struct {
	ID       string            `json:"id"`
	Aliases  map[string]string `json:"aliases"`
	Priority string            `json:"priority"`
	Tags     map[string]string `json:"tags"`
}

// Tags (and aliases and priority) round-trip through the admin API on
// tenants and keys, are bounded, and their changes are audited.
func TestTagsRoundTripThroughAdminAPI(t *testing.T) {
	ts := start(t, tenantAliasConfig)
	keyID, _ := createKey(t, ts, `{"id":"acme","tags":{"team":"search","cost-centre":"cc-42"},"priority":"batch"}`,
		`{"tenant_id":"acme","name":"app","tags":{"env":"prod"}}`)
	get := func(path string) attributesWire {
		t.Helper()
		resp, body := ts.do(t, "GET", path, "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		var a attributesWire
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := get("/admin/v1/tenants/acme"); a.Tags["team"] != "search" || a.Tags["cost-centre"] != "cc-42" ||
		a.Priority != "batch" || a.Aliases == nil {
		t.Errorf("tenant = %+v", a)
	}
	if a := get("/admin/v1/keys/" + keyID); !maps.Equal(a.Tags, map[string]string{"env": "prod"}) || a.Priority != "" {
		t.Errorf("key = %+v", a)
	}
	// PATCH replaces the fields it gives and keeps the others.
	resp, body := ts.do(t, "PATCH", "/admin/v1/keys/"+keyID, `{"tags":{"env":"staging","owner":"ml"},"aliases":{"fast":"chat"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH key: %d %s", resp.StatusCode, body)
	}
	if a := get("/admin/v1/keys/" + keyID); !maps.Equal(a.Tags, map[string]string{"env": "staging", "owner": "ml"}) ||
		!maps.Equal(a.Aliases, map[string]string{"fast": "chat"}) {
		t.Errorf("key after PATCH = %+v", a)
	}
	resp, body = ts.do(t, "PATCH", "/admin/v1/tenants/acme", `{"tags":{}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH tenant: %d %s", resp.StatusCode, body)
	}
	if a := get("/admin/v1/tenants/acme"); len(a.Tags) != 0 || a.Tags == nil || a.Priority != "batch" {
		t.Errorf("tenant after clearing its tags = %+v", a)
	}

	many := map[string]string{}
	for i := range 33 {
		many[fmt.Sprintf("t%d", i)] = "v"
	}
	manyJSON, _ := json.Marshal(map[string]any{"tags": many})
	for _, c := range []struct{ body, param string }{
		{string(manyJSON), "tags"},
		{`{"tags":{"bad key":"v"}}`, "tags"},
		{`{"tags":{"":"v"}}`, "tags"},
		{`{"tags":{"k":"` + strings.Repeat("v", 257) + `"}}`, "tags.k"},
		{`{"tags":{"k":"line\nbreak"}}`, "tags.k"},
		{`{"priority":"urgent"}`, "priority"},
		{`{"aliases":{"":"chat"}}`, "aliases"},
		{`{"aliases":{"x":""}}`, "aliases"},
		{`{"tags":"not an object"}`, ""},
		{`{}`, "limits"},
	} {
		resp, body := ts.do(t, "PATCH", "/admin/v1/keys/"+keyID, c.body)
		e := mustOpenAIError(t, resp, body, http.StatusBadRequest, "")
		if c.param != "" && (e.Error.Param == nil || *e.Error.Param != c.param) {
			t.Errorf("PATCH %.60s: param %v; want %q (%s)", c.body, e.Error.Param, c.param, body)
		}
	}
	// 32 tags is allowed.
	delete(many, "t0")
	manyJSON, _ = json.Marshal(map[string]any{"tags": many})
	if resp, body := ts.do(t, "PATCH", "/admin/v1/keys/"+keyID, string(manyJSON)); resp.StatusCode != 200 {
		t.Errorf("PATCH with 32 tags: %d %s", resp.StatusCode, body)
	}

	// A rotated key keeps its attributes.
	resp, body = ts.do(t, "POST", "/admin/v1/keys/"+keyID+"/rotate", "")
	var rotated attributesWire
	if err := json.Unmarshal(body, &rotated); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("rotate: %d %s", resp.StatusCode, body)
	}
	if a := get("/admin/v1/keys/" + rotated.ID); !maps.Equal(a.Tags, many) || !maps.Equal(a.Aliases, map[string]string{"fast": "chat"}) {
		t.Errorf("rotated key = %+v; want the old key's tags and aliases", a)
	}

	resp, body = ts.do(t, "GET", "/admin/v1/audit?tenant_id=acme", "")
	for _, action := range []string{`"tenant.attributes"`, `"key.attributes"`} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), action) {
			t.Errorf("audit log lacks %s: %d %s", action, resp.StatusCode, body)
		}
	}
}

// A tenant's keys cannot change another tenant's attributes: an ordinary
// key cannot call the admin API at all, and a tenant's admin key sees only
// its own tenant's keys, cannot change any tenant, cannot map to another
// tenant's alias and cannot raise a key above its tenant's priority.
func TestTenantCannotSetAnotherTenantsAliases(t *testing.T) {
	ts := start(t, tenantAliasConfig)
	acmeKey, acme := createKey(t, ts, `{"id":"acme","aliases":{"chat":"acme-chat-ft"}}`, `{"tenant_id":"acme","name":"app"}`)
	_, userB := createKey(t, ts, `{"id":"globex"}`, `{"tenant_id":"globex","name":"app"}`)
	ownB, adminB := createKey(t, ts, "", `{"tenant_id":"globex","name":"ops","admin":true}`)
	asUser := []string{"Authorization", "Bearer " + userB}
	asAdmin := []string{"Authorization", "Bearer " + adminB}

	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/admin/v1/tenants/acme", `{"aliases":{"chat":"chat"}}`},
		{"PATCH", "/admin/v1/keys/" + acmeKey, `{"aliases":{"chat":"chat"}}`},
		{"POST", "/admin/v1/keys", `{"tenant_id":"acme","aliases":{"chat":"chat"}}`},
	} {
		resp, body := ts.do(t, c.method, c.path, c.body, asUser...)
		mustOpenAIError(t, resp, body, http.StatusForbidden, "admin_required")
	}
	resp, body := ts.do(t, "PATCH", "/admin/v1/keys/"+acmeKey, `{"aliases":{"chat":"chat"}}`, asAdmin...)
	mustOpenAIError(t, resp, body, http.StatusNotFound, "not_found")
	resp, body = ts.do(t, "POST", "/admin/v1/keys", `{"tenant_id":"acme","aliases":{"chat":"chat"}}`, asAdmin...)
	mustOpenAIError(t, resp, body, http.StatusNotFound, "not_found")
	for _, tn := range []string{"acme", "globex"} {
		resp, body = ts.do(t, "PATCH", "/admin/v1/tenants/"+tn, `{"aliases":{"chat":"chat"}}`, asAdmin...)
		mustOpenAIError(t, resp, body, http.StatusForbidden, "operator_required")
	}
	// Its own keys: another tenant's alias does not exist for it, and
	// critical is above its tenant's class.
	resp, body = ts.do(t, "PATCH", "/admin/v1/keys/"+ownB, `{"aliases":{"chat":"acme-chat-ft"}}`, asAdmin...)
	mustOpenAIError(t, resp, body, http.StatusBadRequest, "")
	resp, body = ts.do(t, "PATCH", "/admin/v1/keys/"+ownB, `{"priority":"critical"}`, asAdmin...)
	mustOpenAIError(t, resp, body, http.StatusForbidden, "operator_required")
	resp, body = ts.do(t, "POST", "/admin/v1/keys", `{"tenant_id":"globex","priority":"critical"}`, asAdmin...)
	mustOpenAIError(t, resp, body, http.StatusForbidden, "operator_required")
	if resp, body := ts.do(t, "PATCH", "/admin/v1/keys/"+ownB, `{"aliases":{"chat":"globex-chat-ft"},"priority":"batch","tags":{"by":"globex"}}`, asAdmin...); resp.StatusCode != 200 {
		t.Errorf("globex's admin changing its own key: %d %s", resp.StatusCode, body)
	}

	// Acme's routing is as it was.
	if resp, _ := ts.chatAs(t, acme, "chat", false); resp.Header.Get("X-Bulwark-Target") != "s/acme-ft" {
		t.Errorf("acme's chat after globex's attempts went to %q", resp.Header.Get("X-Bulwark-Target"))
	}
}
