package admin_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// newBudgetEnv is newEnv with the budget routes, over the database itself
// (so that actions are audited and the key set loads budgets), with
// spending read from in-memory budgets seeded from the database's ledger.
func newBudgetEnv(t *testing.T) *env {
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
	keys := tenant.NewKeyring(db)
	if err := keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	h := admin.New(db, keys, slog.New(slog.NewJSONHandler(logs, nil)))
	routes := h.Routes()
	for p, r := range admin.NewBudgets(h, db, usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{Ledger: db})).Routes() {
		routes[p] = r
	}
	mux := http.NewServeMux()
	for pattern, route := range routes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			p, err := keys.Authenticate(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			if err != nil || !p.Admin {
				api.WriteError(w, api.Errorf(http.StatusUnauthorized, api.TypeAuthentication, "invalid_api_key", "not an admin key"))
				return
			}
			route(w, r, p)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, keys: keys, srv: srv, secret: secret, logs: logs}
}

type budgetJSON struct {
	Object              string  `json:"object"`
	Scope               string  `json:"scope"`
	ID                  string  `json:"id"`
	TenantID            string  `json:"tenant_id"`
	Period              string  `json:"period"`
	AmountNanodollars   int64   `json:"amount_nanodollars"`
	AmountUSD           float64 `json:"amount_usd"`
	Hard                bool    `json:"hard"`
	SpentNanodollars    *int64  `json:"spent_nanodollars"`
	ReservedNanodollars *int64  `json:"reserved_nanodollars"`
}

func TestBudgetsAPI(t *testing.T) {
	e := newBudgetEnv(t)
	e.expect("POST", "/admin/v1/tenants", `{"id":"acme","name":"Acme"}`, 201, nil)
	var k keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"acme","name":"app"}`, 201, &k)
	if err := e.db.Append(t.Context(), []usage.Record{{ID: "r1", Time: time.Now(), TenantID: "acme", KeyID: k.ID, Status: usage.StatusOK, Cost: 250_000_000}}); err != nil {
		t.Fatal(err)
	}

	var b budgetJSON
	e.expect("PUT", "/admin/v1/tenants/acme/budget", `{"amount_usd":12.5,"period":"month","hard":true}`, 200, &b)
	if b.Object != "budget" || b.Scope != "tenant" || b.ID != "acme" || b.AmountNanodollars != 12_500_000_000 || !b.Hard || b.Period != "month" {
		t.Errorf("PUT tenant budget = %+v", b)
	}
	if b.SpentNanodollars == nil || *b.SpentNanodollars != 250_000_000 || b.ReservedNanodollars == nil || *b.ReservedNanodollars != 0 {
		t.Errorf("tenant spending = %v, %v; want $0.25 from the ledger", b.SpentNanodollars, b.ReservedNanodollars)
	}
	e.expect("PUT", "/admin/v1/keys/"+k.ID+"/budget", `{"amount_nanodollars":1000,"period":"day"}`, 200, &b)
	if b.Scope != "key" || b.TenantID != "acme" || b.AmountNanodollars != 1000 || b.Hard {
		t.Errorf("PUT key budget = %+v", b)
	}
	// The key set carries both budgets at once.
	p, err := e.keys.Authenticate(k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyBudget.Amount != 1000 || p.TenantBudget.Amount != 12_500_000_000 || !p.TenantBudget.Hard {
		t.Errorf("principal budgets: key %+v, tenant %+v", p.KeyBudget, p.TenantBudget)
	}
	e.expect("GET", "/admin/v1/keys/"+k.ID+"/budget", "", 200, &b)
	if b.AmountNanodollars != 1000 || b.Period != "day" {
		t.Errorf("GET key budget = %+v", b)
	}

	for _, tc := range []struct{ path, body, param string }{
		{"/admin/v1/tenants/acme/budget", `{"period":"day"}`, "amount_usd"},
		{"/admin/v1/tenants/acme/budget", `{"amount_usd":-1,"period":"day"}`, "amount_usd"},
		{"/admin/v1/tenants/acme/budget", `{"amount_usd":1e12,"period":"day"}`, "amount_usd"},
		{"/admin/v1/tenants/acme/budget", `{"amount_usd":1,"amount_nanodollars":1,"period":"day"}`, "amount_usd"},
		{"/admin/v1/tenants/acme/budget", `{"amount_usd":1,"period":"week"}`, "period"},
		{"/admin/v1/keys/" + k.ID + "/budget", `{"amount_nanodollars":-5,"period":"day"}`, "amount_nanodollars"},
		{"/admin/v1/tenants/acme/budget", `{"amount_usd":1,"period":"day","extra":1}`, ""},
		{"/admin/v1/tenants/acme/budget", `[`, ""},
	} {
		if w := e.expectError("PUT", tc.path, tc.body, 400); tc.param != "" && (w.Param == nil || *w.Param != tc.param) {
			t.Errorf("PUT %s: error %+v; want param %s", tc.body, w, tc.param)
		}
	}
	e.expectError("PUT", "/admin/v1/tenants/nope/budget", `{"amount_usd":1,"period":"day"}`, 404)
	e.expectError("PUT", "/admin/v1/keys/key_nope/budget", `{"amount_usd":1,"period":"day"}`, 404)
	e.expectError("GET", "/admin/v1/tenants/BAD!/budget", "", 400)

	e.expect("DELETE", "/admin/v1/keys/"+k.ID+"/budget", "", 200, nil)
	e.expectError("GET", "/admin/v1/keys/"+k.ID+"/budget", "", 404)
	e.expectError("DELETE", "/admin/v1/keys/"+k.ID+"/budget", "", 404)

	// Every change is in the audit log.
	var audit struct {
		Data []struct {
			Action string `json:"action"`
			Target string `json:"target"`
		} `json:"data"`
	}
	e.expect("GET", "/admin/v1/audit?tenant_id=acme", "", 200, &audit)
	var actions []string
	for _, a := range audit.Data {
		actions = append(actions, a.Action)
	}
	got := strings.Join(actions, ",")
	for _, want := range []string{"tenant.budget", "key.budget", "key.budget.delete"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit actions %s lack %s", got, want)
		}
	}
}

// A tenant's admin key manages its keys' budgets but not its tenant's.
func TestBudgetsAPITenantAdmin(t *testing.T) {
	e := newBudgetEnv(t)
	e.expect("POST", "/admin/v1/tenants", `{"id":"acme","name":"Acme"}`, 201, nil)
	e.expect("POST", "/admin/v1/tenants", `{"id":"other","name":"Other"}`, 201, nil)
	var adminKey, appKey, otherKey keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"acme","name":"admin","admin":true}`, 201, &adminKey)
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"acme","name":"app"}`, 201, &appKey)
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"other","name":"app"}`, 201, &otherKey)
	e.secret = adminKey.Secret
	e.expectError("PUT", "/admin/v1/tenants/acme/budget", `{"amount_usd":1,"period":"day"}`, 403)
	e.expect("PUT", "/admin/v1/keys/"+appKey.ID+"/budget", `{"amount_usd":1,"period":"day","hard":true}`, 200, nil)
	e.expectError("PUT", "/admin/v1/keys/"+otherKey.ID+"/budget", `{"amount_usd":1,"period":"day"}`, 404)
	e.expectError("GET", "/admin/v1/tenants/other/budget", "", 404)
}
