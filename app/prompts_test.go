package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// triagePrompt creates tenant acme's prompt triage, labelled production.
const triagePrompt = `{"tenant_id":"acme","id":"triage","description":"Ticket triage",
	"messages":[{"role":"system","content":"You triage tickets. Reply in {{language}}."},
	            {"role":"user","content":"Ticket: {{ticket}}"}],
	"variables":[{"name":"ticket","required":true},{"name":"language","default":"English"}],
	"params":{"model":"chat","temperature":0.2,"max_tokens":16},
	"note":"first","labels":["production"]}`

const triageV2 = `{"messages":[{"role":"system","content":"You triage tickets tersely. Reply in {{language}}."},
	            {"role":"user","content":"Ticket: {{ticket}}"}],
	"variables":[{"name":"ticket","required":true},{"name":"language","default":"English"}],
	"params":{"model":"chat","max_tokens":16},"note":"terser"}`

func mustStatus(t *testing.T, what string, got int, body []byte, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %d %s; want %d", what, got, body, want)
	}
}

// Issue 17 item 4: versions are immutable, labels move (promotion and
// rollback), every change is in the audit log, and a tenant's admin sees
// only its own prompts.
func TestPromptRegistryAdminAPI(t *testing.T) {
	ts := start(t, fastConfig)
	_, acmeAdmin := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"admin","admin":true}`)
	_, otherAdmin := createKey(t, ts, `{"id":"other"}`, `{"tenant_id":"other","name":"admin","admin":true}`)

	resp, body := ts.do(t, "POST", "/admin/v1/prompts", triagePrompt)
	mustStatus(t, "create", resp.StatusCode, body, 201)
	var created struct {
		ID      string         `json:"id"`
		Latest  int            `json:"latest_version"`
		Labels  map[string]int `json:"labels"`
		Version struct {
			Number int `json:"version"`
		} `json:"version"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.ID != "triage" || created.Latest != 1 ||
		created.Labels["production"] != 1 || created.Version.Number != 1 {
		t.Fatalf("created = %+v, %v: %s", created, err, body)
	}
	resp, body = ts.do(t, "POST", "/admin/v1/prompts", triagePrompt)
	mustStatus(t, "create again", resp.StatusCode, body, 409)
	resp, body = ts.do(t, "POST", "/admin/v1/prompts", `{"tenant_id":"acme","id":"bad","messages":[{"role":"user","content":"{{undeclared}}"}]}`)
	e := mustOpenAIError(t, resp, body, 400, "")
	if e.Error.Param == nil || *e.Error.Param != "messages[0].content" || !strings.Contains(e.Error.Message, "undeclared") {
		t.Errorf("undeclared placeholder: %s", body)
	}

	resp, body = ts.do(t, "POST", "/admin/v1/prompts/triage/versions", triageV2)
	mustStatus(t, "add version", resp.StatusCode, body, 201)
	if !strings.Contains(string(body), `"version":2`) {
		t.Errorf("added version: %s", body)
	}
	// Versions are immutable: nothing changes or deletes one.
	for _, method := range []string{"PUT", "PATCH", "DELETE"} {
		resp, body = ts.do(t, method, "/admin/v1/prompts/triage/versions/1", triageV2)
		if resp.StatusCode != 405 {
			t.Errorf("%s version 1: %d %s; want 405", method, resp.StatusCode, body)
		}
	}
	resp, body = ts.do(t, "GET", "/admin/v1/prompts/triage/versions/1", "")
	mustStatus(t, "get version 1", resp.StatusCode, body, 200)
	if !strings.Contains(string(body), "You triage tickets. Reply") || !strings.Contains(string(body), `"note":"first"`) {
		t.Errorf("version 1 changed: %s", body)
	}

	// Promote 2, then roll back to 1.
	resp, body = ts.do(t, "PUT", "/admin/v1/prompts/triage/labels/production", `{"version":2}`)
	mustStatus(t, "promote", resp.StatusCode, body, 200)
	if !strings.Contains(string(body), `"previous_version":1`) {
		t.Errorf("promote: %s", body)
	}
	resp, body = ts.do(t, "POST", "/admin/v1/prompts/triage/labels/production", `{"version":1}`)
	mustStatus(t, "rollback", resp.StatusCode, body, 200)
	resp, body = ts.do(t, "PUT", "/admin/v1/prompts/triage/labels/staging", `{"version":2}`)
	mustStatus(t, "staging", resp.StatusCode, body, 200)
	resp, body = ts.do(t, "DELETE", "/admin/v1/prompts/triage/labels/staging", "")
	mustStatus(t, "delete staging", resp.StatusCode, body, 200)
	resp, body = ts.do(t, "PUT", "/admin/v1/prompts/triage/labels/production", `{"version":9}`)
	mustStatus(t, "label a missing version", resp.StatusCode, body, 404)
	resp, body = ts.do(t, "PUT", "/admin/v1/prompts/triage/labels/latest", `{"version":1}`)
	mustStatus(t, "set latest", resp.StatusCode, body, 400)

	// Every change is audited, in order.
	resp, body = ts.do(t, "GET", "/admin/v1/audit?tenant_id=acme", "")
	mustStatus(t, "audit", resp.StatusCode, body, 200)
	var audit struct {
		Data []struct {
			Action string `json:"action"`
			Target string `json:"target"`
			KeyID  string `json:"key_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &audit); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(audit.Data) - 1; i >= 0; i-- {
		if a := audit.Data[i]; strings.HasPrefix(a.Action, "prompt.") {
			got = append(got, a.Action+" "+a.Target)
		}
	}
	want := []string{"prompt.create triage", "prompt.label triage:production@1", "prompt.version triage@2",
		"prompt.label triage:production@2", "prompt.label triage:production@1", "prompt.label triage:staging@2",
		"prompt.label.delete triage:staging"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit =\n%q\nwant\n%q", got, want)
	}

	// Tenant isolation: other's admin sees nothing of acme's; acme's
	// admin sees and manages its own.
	other := []string{"Authorization", "Bearer " + otherAdmin}
	for _, path := range []string{"/admin/v1/prompts/triage", "/admin/v1/prompts/triage/versions/1", "/admin/v1/prompts/triage?tenant_id=acme"} {
		if resp, body := ts.do(t, "GET", path, "", other...); resp.StatusCode != 404 {
			t.Errorf("other GET %s: %d %s; want 404", path, resp.StatusCode, body)
		}
	}
	if resp, body := ts.do(t, "PUT", "/admin/v1/prompts/triage/labels/production", `{"version":2}`, other...); resp.StatusCode != 404 {
		t.Errorf("other moves acme's label: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "POST", "/admin/v1/prompts", triagePrompt, other...); resp.StatusCode != 404 {
		t.Errorf("other creates in acme: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "GET", "/admin/v1/prompts", "", other...); resp.StatusCode != 200 || strings.Contains(string(body), "triage") {
		t.Errorf("other's list: %d %s", resp.StatusCode, body)
	}
	// other may have its own triage; the operator then names the tenant.
	resp, body = ts.do(t, "POST", "/admin/v1/prompts", strings.Replace(triagePrompt, `"tenant_id":"acme",`, "", 1), other...)
	mustStatus(t, "other creates its own", resp.StatusCode, body, 201)
	if resp, body := ts.do(t, "GET", "/admin/v1/prompts/triage", ""); resp.StatusCode != 400 {
		t.Errorf("operator GET of an ambiguous id: %d %s; want 400", resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "GET", "/admin/v1/prompts/triage?tenant_id=other", ""); resp.StatusCode != 200 || !strings.Contains(string(body), `"tenant_id":"other"`) {
		t.Errorf("operator GET with tenant_id: %d %s", resp.StatusCode, body)
	}
	acmeHdr := []string{"Authorization", "Bearer " + acmeAdmin}
	resp, body = ts.do(t, "GET", "/admin/v1/prompts/triage", "", acmeHdr...)
	mustStatus(t, "acme reads its own", resp.StatusCode, body, 200)
	if !strings.Contains(string(body), `"tenant_id":"acme"`) || !strings.Contains(string(body), `"production":1`) {
		t.Errorf("acme's triage: %s", body)
	}
	resp, body = ts.do(t, "GET", "/admin/v1/prompts", "")
	if resp.StatusCode != 200 || strings.Count(string(body), `"id":"triage"`) != 2 {
		t.Errorf("operator's list: %d %s", resp.StatusCode, body)
	}
}

// promptConfig adds a request log with content capture to fastConfig,
// to see the messages a prompt rendered.
const promptConfig = fastConfig + `
telemetry:
  request_log: {enabled: true, capture_content: true, max_content_bytes: 4096}
`

// Chat completions with a prompt reference: rendered, labels resolved,
// usage tagged with the prompt and version, client mistakes refused with
// 400s naming the variable.
func TestChatWithPrompt(t *testing.T) {
	ts := start(t, promptConfig)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	_, otherSecret := createKey(t, ts, `{"id":"other"}`, `{"tenant_id":"other","name":"app"}`)
	auth := []string{"Authorization", "Bearer " + secret}
	if resp, body := ts.do(t, "POST", "/admin/v1/prompts", triagePrompt); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "POST", "/admin/v1/prompts/triage/versions", triageV2); resp.StatusCode != 201 {
		t.Fatalf("version: %d %s", resp.StatusCode, body)
	}

	chat := func(body string, hdr ...string) (int, string, []byte) {
		t.Helper()
		resp, b := ts.do(t, "POST", "/v1/chat/completions", body, append(auth, hdr...)...)
		return resp.StatusCode, resp.Header.Get("X-Bulwark-Prompt"), b
	}
	// No model in the body: the prompt's. Production is version 1.
	code, served, body := chat(`{"prompt":{"id":"triage","variables":{"ticket":"Printer on fire","language":{"type":"input_text","text":"French"}}},
		"messages":[{"role":"user","content":"Please hurry."}]}`, "X-Request-Id", "req-prompt-1")
	if code != 200 || served != "triage@1" {
		t.Fatalf("chat with prompt: %d %q %s", code, served, body)
	}
	rec := waitRequestContent(t, ts, "req-prompt-1")
	wantMsgs := []string{"system: You triage tickets. Reply in French.", "user: Ticket: Printer on fire", "user: Please hurry."}
	if fmt.Sprint(rec) != fmt.Sprint(wantMsgs) {
		t.Errorf("messages sent = %q; want %q", rec, wantMsgs)
	}
	for ref, want := range map[string]string{`"version":"2"`: "triage@2", `"version":"latest"`: "triage@2", `"label":"production"`: "triage@1"} {
		if code, served, body := chat(`{"prompt":{"id":"triage",` + ref + `,"variables":{"ticket":"t"}}}`); code != 200 || served != want {
			t.Errorf("%s: %d %q %s; want %s", ref, code, served, body, want)
		}
	}
	// Promotion takes effect at once on this replica.
	if resp, body := ts.do(t, "PUT", "/admin/v1/prompts/triage/labels/production", `{"version":2}`); resp.StatusCode != 200 {
		t.Fatalf("promote: %d %s", resp.StatusCode, body)
	}
	if code, served, body := chat(`{"prompt":{"id":"triage","variables":{"ticket":"t"}},"stream":true}`); code != 200 || served != "triage@2" {
		t.Errorf("stream after promotion: %d %q %s", code, served, body)
	}

	for _, tc := range []struct{ body, param string }{
		{`{"prompt":{"id":"triage"}}`, "prompt.variables.ticket"},
		{`{"prompt":{"id":"triage","variables":{"ticket":"t","mood":"x"}}}`, "prompt.variables.mood"},
	} {
		resp, b := ts.do(t, "POST", "/v1/chat/completions", tc.body, auth...)
		e := mustOpenAIError(t, resp, b, 400, "invalid_prompt_variables")
		if e.Error.Param == nil || *e.Error.Param != tc.param {
			t.Errorf("%s: param %v; want %q", tc.body, e.Error.Param, tc.param)
		}
	}
	resp, b := ts.do(t, "POST", "/v1/chat/completions", `{"prompt":{"id":"triage","variables":{"ticket":"t"}}}`,
		"Authorization", "Bearer "+otherSecret)
	mustOpenAIError(t, resp, b, 404, "prompt_not_found")

	// Usage records carry the prompt and version.
	u := waitUsage(t, ts, "tenant_id=acme&group_by=tag:prompt_version", 5)
	byVersion := map[string]int64{}
	for _, r := range u.Data {
		byVersion[r.Group] += r.Requests
	}
	if byVersion["1"] != 2 || byVersion["2"] != 3 {
		t.Errorf("usage by prompt_version = %v; want 1:2 2:3", byVersion)
	}
}

// waitRequestContent returns the captured messages of the request with
// the given id, as "role: content".
func waitRequestContent(t *testing.T, ts *testServer, requestID string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := ts.do(t, "GET", "/admin/v1/requests/"+requestID, "")
		if resp.StatusCode == 200 {
			var rec struct {
				Content struct {
					Messages []struct{ Role, Content string } `json:"messages"`
				} `json:"content"`
			}
			if err := json.Unmarshal(body, &rec); err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range rec.Content.Messages {
				out = append(out, m.Role+": "+m.Content)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s: %d %s", requestID, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Prompts keep serving from every replica's cache while Postgres is
// down.
func TestPromptsServeDuringStoreOutage(t *testing.T) {
	storeURL, px := pgBehindProxy(t)
	ts := start(t, fastConfig+`
store: {type: postgres, url: "`+storeURL+`"}
`)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	if resp, body := ts.do(t, "POST", "/admin/v1/prompts", triagePrompt); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	px.Cut()
	// The store is down: reads of the registry fail, requests that use
	// a prompt are served from the cache.
	resp, body := ts.do(t, "GET", "/admin/v1/prompts/triage?tenant_id=acme", "")
	mustOpenAIError(t, resp, body, 503, "store_unavailable")
	for i := range 3 {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"prompt":{"id":"triage","variables":{"ticket":"t"}}}`,
			"Authorization", "Bearer "+secret)
		if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Prompt") != "triage@1" {
			t.Fatalf("chat %d with Postgres down: %d %s", i, resp.StatusCode, body)
		}
	}
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, ts, "tenant_id=acme", 3)
}

// TestResponsesWithPrompt: the Responses API takes OpenAI's prompt
// parameter as Chat Completions does: the prompt's messages go first, its
// model serves a request that names none, and a bad variable is a 400
// naming it.
func TestResponsesWithPrompt(t *testing.T) {
	ts := start(t, promptConfig)
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := []string{"Authorization", "Bearer " + secret}
	if resp, body := ts.do(t, "POST", "/admin/v1/prompts", triagePrompt); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body := ts.do(t, "POST", "/v1/responses", `{"prompt":{"id":"triage","variables":{"ticket":"Printer on fire","language":"French"}},
		"input":"Please hurry."}`, append(auth, "X-Request-Id", "req-resp-prompt")...)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Prompt") != "triage@1" {
		t.Fatalf("responses with prompt: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var r struct {
		Model  string `json:"model"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "completed" || r.Model == "" {
		t.Fatalf("response %s (%v)", body, err)
	}
	want := []string{"system: You triage tickets. Reply in French.", "user: Ticket: Printer on fire", "user: Please hurry."}
	if rec := waitRequestContent(t, ts, "req-resp-prompt"); fmt.Sprint(rec) != fmt.Sprint(want) {
		t.Errorf("messages sent = %q; want %q", rec, want)
	}
	resp, body = ts.do(t, "POST", "/v1/responses", `{"prompt":{"id":"triage"},"input":"x"}`, auth...)
	e := mustOpenAIError(t, resp, body, 400, "invalid_prompt_variables")
	if e.Error.Param == nil || *e.Error.Param != "prompt.variables.ticket" {
		t.Errorf("param %v", e.Error.Param)
	}
	resp, body = ts.do(t, "POST", "/v1/responses", `{"prompt":{"id":"nope"},"input":"x"}`, auth...)
	mustOpenAIError(t, resp, body, 404, "prompt_not_found")
}
