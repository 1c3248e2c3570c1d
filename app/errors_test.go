package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Every client mistake is a 4xx in OpenAI's error format that names what
// is wrong.
func TestClientMistakesAreOpenAIErrors(t *testing.T) {
	ts := start(t, fastConfig)
	big := `{"model":"chat","messages":[{"role":"user","content":"` + strings.Repeat("x", 9<<20) + `"}]}`
	cases := []struct {
		name, method, path, body string
		status                   int
		code, param              string
	}{
		{"malformed json", "POST", "/v1/chat/completions", `{"model":"chat",`, 400, "", ""},
		{"not an object", "POST", "/v1/chat/completions", `[1,2]`, 400, "", ""},
		{"empty body", "POST", "/v1/chat/completions", ``, 400, "", ""},
		{"model wrong type", "POST", "/v1/chat/completions", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, 400, "", "model"},
		{"missing model", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "", "model"},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"chat"}`, 400, "", "messages"},
		{"empty messages", "POST", "/v1/chat/completions", `{"model":"chat","messages":[]}`, 400, "", "messages"},
		{"bad role", "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"wizard","content":"x"}]}`, 400, "", "messages[0].role"},
		{"content wrong type", "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":7}]}`, 400, "", "messages[0].content"},
		{"max_tokens zero", "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, 400, "", "max_tokens"},
		{"stream wrong type", "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, 400, "", "stream"},
		{"temperature out of range", "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}],"temperature":3}`, 400, "", "temperature"},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"gpt-nope","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found", "model"},
		{"invalid utf-8", "POST", "/v1/chat/completions", "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400, "", ""},
		{"body too large", "POST", "/v1/chat/completions", big, 413, "request_too_large", ""},
		{"embeddings no input", "POST", "/v1/embeddings", `{"model":"embed"}`, 400, "", "input"},
		{"embeddings bad format", "POST", "/v1/embeddings", `{"model":"embed","input":"x","encoding_format":"hex"}`, 400, "", "encoding_format"},
		{"embeddings bad input", "POST", "/v1/embeddings", `{"model":"embed","input":{"a":1}}`, 400, "", "input"},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405, "method_not_allowed", ""},
		{"unknown path", "POST", "/v1/nothing", `{}`, 404, "unknown_url", ""},
		{"embedding model for chat", "POST", "/v1/chat/completions", `{"model":"embed","messages":[{"role":"user","content":"x"}]}`, 400, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := ts.do(t, c.method, c.path, c.body)
			e := mustOpenAIError(t, resp, body, c.status, c.code)
			if c.param != "" && (e.Error.Param == nil || *e.Error.Param != c.param) {
				t.Errorf("param = %v, want %q; body %s", e.Error.Param, c.param, body)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	ts := start(t, fastConfig)
	// No key, a wrong key, a key in each header SDKs use.
	resp, body := ts.do(t, "GET", "/v1/models", "", "Authorization", "")
	mustOpenAIError(t, resp, body, 401, "missing_api_key")
	resp, body = ts.do(t, "GET", "/v1/models", "", "Authorization", "Bearer bk-wrong")
	mustOpenAIError(t, resp, body, 401, "invalid_api_key")
	if strings.Contains(string(body), "bk-wrong") {
		t.Error("the presented key is echoed in the error")
	}
	for _, h := range []string{"X-Api-Key", "Api-Key"} {
		resp, body = ts.do(t, "GET", "/v1/models", "", "Authorization", "", h, testAdminKey)
		if resp.StatusCode != 200 {
			t.Errorf("%s header: %d %s", h, resp.StatusCode, body)
		}
	}
}

func TestKeysTenantsAndAllowedModels(t *testing.T) {
	ts := start(t, fastConfig)
	resp, body := ts.do(t, "POST", "/admin/v1/tenants", `{"id":"acme","name":"Acme"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create tenant: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/admin/v1/keys", `{"tenant_id":"acme","name":"app","models":["chat"]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Secret == "" || k.ID == "" {
		t.Fatalf("created key lacks id or secret: %s", body)
	}
	auth := "Bearer " + k.Secret

	// The key sees and uses only its models, and not the admin API.
	_, body = ts.do(t, "GET", "/v1/models", "", "Authorization", auth)
	if !strings.Contains(string(body), `"id":"chat"`) || strings.Contains(string(body), `"id":"embed"`) {
		t.Errorf("models list not filtered by the key's models: %s", body)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`, "Authorization", auth)
	if resp.StatusCode != 200 {
		t.Fatalf("allowed model refused: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/v1/embeddings", `{"model":"embed","input":"x"}`, "Authorization", auth)
	mustOpenAIError(t, resp, body, 403, "model_not_allowed")
	resp, body = ts.do(t, "GET", "/admin/v1/keys", "", "Authorization", auth)
	mustOpenAIError(t, resp, body, 403, "admin_required")

	// The list never shows a secret.
	_, body = ts.do(t, "GET", "/admin/v1/keys", "")
	if strings.Contains(string(body), k.Secret) || strings.Contains(string(body), `"secret"`) {
		t.Errorf("key list reveals a secret: %s", body)
	}

	// Revoked: refused at once.
	resp, body = ts.do(t, "POST", "/admin/v1/keys/"+k.ID+"/revoke", "")
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "GET", "/v1/models", "", "Authorization", auth)
	mustOpenAIError(t, resp, body, http.StatusUnauthorized, "invalid_api_key")
}
