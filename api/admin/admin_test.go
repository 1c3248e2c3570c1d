package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
)

// env is an admin API over a real database, served the way the server
// serves it: every route behind authentication and the admin check.
type env struct {
	t      *testing.T
	db     *sqlite.DB
	store  *flaky
	keys   *tenant.Keyring
	srv    *httptest.Server
	secret string // the bootstrap admin secret
	logs   *syncBuffer
}

// flaky is a Store whose Keys fails while fail is set, to break reloads.
type flaky struct {
	tenant.Store
	fail atomic.Bool
}

func (f *flaky) Keys(ctx context.Context, tenantID string) ([]tenant.Key, error) {
	if f.fail.Load() {
		return nil, errors.New("store down")
	}
	return f.Store.Keys(ctx, tenantID)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	secret, _, err := tenant.Bootstrap(ctx, db, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	store := &flaky{Store: db}
	keys := tenant.NewKeyring(store)
	if err := keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	h := admin.New(store, keys, slog.New(slog.NewJSONHandler(logs, nil)))

	mux := http.NewServeMux()
	for pattern, route := range h.Routes() {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			p, err := keys.Authenticate(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			if err != nil {
				api.WriteError(w, api.Errorf(http.StatusUnauthorized, api.TypeAuthentication, "invalid_api_key", "%v", err))
				return
			}
			if !p.Admin {
				api.WriteError(w, api.Errorf(http.StatusForbidden, api.TypePermission, "not_admin", "not an admin key"))
				return
			}
			route(w, r, p)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, store: store, keys: keys, srv: srv, secret: secret, logs: logs}
}

// do sends a request with the admin secret and returns the status and body.
func (e *env) do(method, path, body string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, b
}

// expect sends a request, checks its status and decodes the body into v.
func (e *env) expect(method, path, body string, status int, v any) []byte {
	e.t.Helper()
	got, b := e.do(method, path, body)
	if got != status {
		e.t.Fatalf("%s %s %s = %d %s; want %d", method, path, body, got, b, status)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// expectError checks that a request fails with status in OpenAI's error
// format, and returns the error.
func (e *env) expectError(method, path, body string, status int) api.WireError {
	e.t.Helper()
	var w api.Wire
	e.expect(method, path, body, status, &w)
	if w.Error.Message == "" || w.Error.Type == "" {
		e.t.Errorf("%s %s: error body %+v lacks a message or type", method, path, w)
	}
	return w.Error
}

type tenantJSON struct {
	Object    string    `json:"object"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type keyJSON struct {
	Object    string     `json:"object"`
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Admin     bool       `json:"admin"`
	Models    []string   `json:"models"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Status    string     `json:"status"`
	Secret    string     `json:"secret"`
}

type listJSON[T any] struct {
	Object string `json:"object"`
	Data   []T    `json:"data"`
}

func TestTenants(t *testing.T) {
	e := newEnv(t)
	var created tenantJSON
	e.expect("POST", "/admin/v1/tenants", `{"id":"acme","name":"Acme Corp"}`, http.StatusCreated, &created)
	if created.Object != "tenant" || created.ID != "acme" || created.Name != "Acme Corp" || created.CreatedAt.IsZero() {
		t.Errorf("created tenant = %+v", created)
	}
	var noName tenantJSON
	e.expect("POST", "/admin/v1/tenants", `{"id":"b-2_x"}`, http.StatusCreated, &noName)
	if noName.Name != "b-2_x" {
		t.Errorf("a tenant without a name is named %q; want its id", noName.Name)
	}

	var got tenantJSON
	e.expect("GET", "/admin/v1/tenants/acme", "", http.StatusOK, &got)
	if got.ID != "acme" || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("GET tenant = %+v; want %+v", got, created)
	}
	var list listJSON[tenantJSON]
	e.expect("GET", "/admin/v1/tenants", "", http.StatusOK, &list)
	var ids []string
	for _, tn := range list.Data {
		ids = append(ids, tn.ID)
	}
	if list.Object != "list" || strings.Join(ids, ",") != "acme,b-2_x,default" {
		t.Errorf("tenant list = %s %v; want list of acme, b-2_x, default", list.Object, ids)
	}

	if err := e.expectError("POST", "/admin/v1/tenants", `{"id":"acme","name":"again"}`, http.StatusConflict); !strings.Contains(err.Message, "already exists") {
		t.Errorf("duplicate: %q", err.Message)
	}
	e.expectError("GET", "/admin/v1/tenants/nope", "", http.StatusNotFound)
	e.expectError("GET", "/admin/v1/tenants/Not-Valid", "", http.StatusBadRequest)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	e.expect("POST", "/admin/v1/tenants", `{"id":"acme"}`, http.StatusCreated, nil)
	long := strings.Repeat("a", 64)
	for _, tc := range []struct{ path, body, param string }{
		{"/admin/v1/tenants", ``, ""},
		{"/admin/v1/tenants", `{`, ""},
		{"/admin/v1/tenants", `[]`, ""},
		{"/admin/v1/tenants", `{"id":"x"} {}`, ""},
		{"/admin/v1/tenants", `{"id":"x","extra":1}`, ""},
		{"/admin/v1/tenants", `{"id":5}`, "id"},
		{"/admin/v1/tenants", `{}`, "id"},
		{"/admin/v1/tenants", `{"id":"Upper"}`, "id"},
		{"/admin/v1/tenants", `{"id":"-dash"}`, "id"},
		{"/admin/v1/tenants", `{"id":"` + long + `"}`, "id"},
		{"/admin/v1/tenants", `{"id":"a b"}`, "id"},
		{"/admin/v1/tenants", `{"id":"caf\u00e9"}`, "id"},
		{"/admin/v1/tenants", `{"id":"../x"}`, "id"},
		{"/admin/v1/tenants", `{"id":"ok","name":"bad\u0007name"}`, "name"},
		{"/admin/v1/tenants", `{"id":"ok","name":"` + strings.Repeat("n", 201) + `"}`, "name"},
		{"/admin/v1/keys", `{"tenant_id":"acme","secret":"mine"}`, ""},
		{"/admin/v1/keys", `{"name":"no tenant"}`, "tenant_id"},
		{"/admin/v1/keys", `{"tenant_id":"ACME"}`, "tenant_id"},
		{"/admin/v1/keys", `{"tenant_id":"acme","admin":"yes"}`, "admin"},
		{"/admin/v1/keys", `{"tenant_id":"acme","models":"sim-chat"}`, "models"},
		{"/admin/v1/keys", `{"tenant_id":"acme","models":[""]}`, "models"},
		{"/admin/v1/keys", `{"tenant_id":"acme","models":["a","a"]}`, "models"},
		{"/admin/v1/keys", `{"tenant_id":"acme","expires_at":"tomorrow"}`, "expires_at"},
		{"/admin/v1/keys", `{"tenant_id":"acme","expires_at":"2001-01-01T00:00:00Z"}`, "expires_at"},
		{"/admin/v1/keys", `{"tenant_id":"acme","expires_in":"soon"}`, "expires_in"},
		{"/admin/v1/keys", `{"tenant_id":"acme","expires_in":"-1h"}`, "expires_in"},
		{"/admin/v1/keys", `{"tenant_id":"acme","expires_in":"1h","expires_at":"2100-01-01T00:00:00Z"}`, "expires_at"},
	} {
		var w api.Wire
		e.expect("POST", tc.path, tc.body, http.StatusBadRequest, &w)
		if w.Error.Type != api.TypeInvalidRequest || w.Error.Message == "" {
			t.Errorf("%s: error = %+v", tc.body, w.Error)
		}
		param := ""
		if w.Error.Param != nil {
			param = *w.Error.Param
		}
		if tc.param != "" && param != tc.param {
			t.Errorf("%s: param = %q; want %q (%s)", tc.body, param, tc.param, w.Error.Message)
		}
	}
	e.expectError("GET", "/admin/v1/keys?tenant_id=Bad!", "", http.StatusBadRequest)
	e.expectError("POST", "/admin/v1/keys/bad!id/revoke", "", http.StatusBadRequest)
	e.expectError("POST", "/admin/v1/tenants", `{"id":"big","name":"`+strings.Repeat("n", 100<<10)+`"}`, http.StatusRequestEntityTooLarge)

	// Nothing of the above was stored.
	ts, _ := e.db.Tenants(t.Context())
	ks, _ := e.db.Keys(t.Context(), "acme")
	if len(ts) != 2 || len(ks) != 0 {
		t.Errorf("bad requests stored %d tenants, %d keys", len(ts)-2, len(ks))
	}
}

func TestKeyLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.expect("POST", "/admin/v1/tenants", `{"id":"acme"}`, http.StatusCreated, nil)

	before := time.Now()
	var k keyJSON
	raw := e.expect("POST", "/admin/v1/keys",
		`{"tenant_id":"acme","name":"ci","models":["sim-chat"],"expires_in":"720h"}`, http.StatusCreated, &k)
	if k.Object != "key" || k.TenantID != "acme" || k.Name != "ci" || k.Admin || k.Status != "active" ||
		len(k.Models) != 1 || k.Models[0] != "sim-chat" || k.RevokedAt != nil {
		t.Errorf("created key = %+v", k)
	}
	if !strings.HasPrefix(k.Secret, "bk-") || k.Prefix != k.Secret[:10] || !strings.HasPrefix(k.ID, "key_") {
		t.Errorf("created key: id %q, secret %q, prefix %q", k.ID, k.Secret, k.Prefix)
	}
	if k.ExpiresAt == nil || k.ExpiresAt.Before(before.Add(720*time.Hour)) || k.ExpiresAt.After(time.Now().Add(720*time.Hour)) {
		t.Errorf("expires_at = %v; want about 720h from now", k.ExpiresAt)
	}
	hash := tenant.HashSecret(k.Secret)
	if bytes.Contains(raw, []byte(hash)) || bytes.Contains(raw, []byte(`"hash"`)) {
		t.Errorf("the create response shows the hash: %s", raw)
	}

	// The key works at once.
	p, err := e.keys.Authenticate(k.Secret)
	if err != nil || p.KeyID != k.ID || p.TenantID != "acme" || p.Admin || !p.Allows("sim-chat") || p.Allows("gpt-4o") {
		t.Fatalf("Authenticate(new key) = %+v, %v", p, err)
	}

	// Lists and gets show neither secret nor hash.
	for _, path := range []string{"/admin/v1/keys?tenant_id=acme", "/admin/v1/keys", "/admin/v1/keys/" + k.ID} {
		_, b := e.do("GET", path, "")
		if bytes.Contains(b, []byte(k.Secret)) || bytes.Contains(b, []byte(`"secret"`)) || bytes.Contains(b, []byte(hash)) {
			t.Errorf("GET %s shows a secret or hash: %s", path, b)
		}
	}
	var list listJSON[keyJSON]
	e.expect("GET", "/admin/v1/keys?tenant_id=acme", "", http.StatusOK, &list)
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != k.ID {
		t.Errorf("acme's keys = %+v", list)
	}
	e.expect("GET", "/admin/v1/keys", "", http.StatusOK, &list)
	if len(list.Data) != 2 { // the bootstrap key and k
		t.Errorf("all keys = %d; want 2", len(list.Data))
	}
	e.expect("GET", "/admin/v1/keys?tenant_id=default", "", http.StatusOK, &list)
	if len(list.Data) != 1 || !list.Data[0].Admin || list.Data[0].Models == nil {
		t.Errorf("default's keys = %+v; want the bootstrap admin key with models []", list.Data)
	}
	e.expectError("GET", "/admin/v1/keys?tenant_id=nope", "", http.StatusNotFound)

	// Revoking takes effect at once, by either route.
	var revoked keyJSON
	e.expect("POST", "/admin/v1/keys/"+k.ID+"/revoke", "", http.StatusOK, &revoked)
	if revoked.Status != "revoked" || revoked.RevokedAt == nil || revoked.Secret != "" {
		t.Errorf("revoked key = %+v", revoked)
	}
	if _, err := e.keys.Authenticate(k.Secret); !errors.Is(err, tenant.ErrRevokedKey) {
		t.Errorf("Authenticate(revoked key) = %v; want ErrRevokedKey", err)
	}
	e.expect("POST", "/admin/v1/keys/"+k.ID+"/revoke", "", http.StatusOK, nil) // idempotent

	var k2 keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"acme","expires_at":"2100-01-02T03:04:05+01:00"}`, http.StatusCreated, &k2)
	if want := time.Date(2100, 1, 2, 2, 4, 5, 0, time.UTC); k2.ExpiresAt == nil || !k2.ExpiresAt.Equal(want) {
		t.Errorf("expires_at = %v; want %v", k2.ExpiresAt, want)
	}
	if _, err := e.keys.Authenticate(k2.Secret); err != nil {
		t.Fatal(err)
	}
	e.expect("DELETE", "/admin/v1/keys/"+k2.ID, "", http.StatusOK, nil)
	if _, err := e.keys.Authenticate(k2.Secret); !errors.Is(err, tenant.ErrRevokedKey) {
		t.Errorf("Authenticate(deleted key) = %v; want ErrRevokedKey", err)
	}

	e.expectError("POST", "/admin/v1/keys/key_0000000000000000/revoke", "", http.StatusNotFound)
	e.expectError("DELETE", "/admin/v1/keys/key_0000000000000000", "", http.StatusNotFound)
	e.expectError("GET", "/admin/v1/keys/key_0000000000000000", "", http.StatusNotFound)
	if err := e.expectError("POST", "/admin/v1/keys", `{"tenant_id":"nope"}`, http.StatusNotFound); err.Param == nil || *err.Param != "tenant_id" {
		t.Errorf("unknown tenant error = %+v", err)
	}

	// The store holds hashes only.
	keys, _ := e.db.Keys(ctx, "")
	for _, sk := range keys {
		if sk.Hash == k.Secret || sk.Hash == k2.Secret || len(sk.Hash) != 64 {
			t.Errorf("stored key %s has hash %q", sk.ID, sk.Hash)
		}
	}

	// The log names who did what, never a secret.
	logs := e.logs.String()
	boot, _ := e.keys.Authenticate(e.secret)
	for _, want := range []string{"key created", "key revoked", `"by_key":"` + boot.KeyID + `"`, k.ID} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{k.Secret, k2.Secret, e.secret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a secret:\n%s", logs)
		}
	}
}

func TestAdminKeyCanAdminister(t *testing.T) {
	e := newEnv(t)
	var k keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"default","name":"second admin","admin":true}`, http.StatusCreated, &k)
	if !k.Admin {
		t.Fatalf("key = %+v; want admin", k)
	}
	e.secret = k.Secret
	e.expect("GET", "/admin/v1/tenants", "", http.StatusOK, nil)

	var user keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"default"}`, http.StatusCreated, &user)
	e.secret = user.Secret
	e.expectError("GET", "/admin/v1/tenants", "", http.StatusForbidden)
}

func TestRevokeWhenReloadFails(t *testing.T) {
	e := newEnv(t)
	var k keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"default"}`, http.StatusCreated, &k)

	e.store.fail.Store(true)
	// A revocation that this server cannot yet enforce is not reported done.
	if err := e.expectError("POST", "/admin/v1/keys/"+k.ID+"/revoke", "", http.StatusServiceUnavailable); err.Code == nil || *err.Code != "reload_failed" {
		t.Errorf("error = %+v; want reload_failed", err)
	}
	// A key created meanwhile is still answered with its secret.
	var k2 keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"default"}`, http.StatusCreated, &k2)
	if k2.Secret == "" {
		t.Errorf("created key without its secret")
	}

	e.store.fail.Store(false)
	e.expect("POST", "/admin/v1/keys/"+k.ID+"/revoke", "", http.StatusOK, nil)
	if _, err := e.keys.Authenticate(k.Secret); !errors.Is(err, tenant.ErrRevokedKey) {
		t.Errorf("Authenticate after the retried revocation = %v", err)
	}
}

func TestRoutesArePatterns(t *testing.T) {
	h := admin.New(nil, nil, nil)
	mux := http.NewServeMux()
	for pattern := range h.Routes() {
		// ServeMux panics on a malformed or conflicting pattern.
		mux.HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
	}
	if n := len(h.Routes()); n != 12 {
		t.Errorf("%d routes; want 12", n)
	}
}
