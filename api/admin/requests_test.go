package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/reqlog/reqlogtest"
	"github.com/bulwark-ai/bulwark/tenant"
)

var (
	rootAdmin = tenant.Principal{TenantID: tenant.DefaultTenant, KeyID: "k_root", Admin: true}
	acmeAdmin = tenant.Principal{TenantID: "acme", KeyID: "k_acme", Admin: true}
)

// requestsAPI serves the request log routes over s as principal p.
func requestsAPI(t *testing.T, s reqlog.Store, p tenant.Principal) func(path string) (int, []byte) {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range admin.NewRequests(s).Routes() {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { h(w, r, p) })
	}
	return func(path string) (int, []byte) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code, w.Body.Bytes()
	}
}

type page struct {
	Data       []reqlog.Record `json:"data"`
	HasMore    bool            `json:"has_more"`
	NextCursor string          `json:"next_cursor"`
}

func requestLogFixture(t *testing.T) *reqlogtest.Memory {
	t.Helper()
	m := &reqlogtest.Memory{}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var recs []reqlog.Record
	for i := range 12 {
		r := reqlog.Record{
			ID: fmt.Sprintf("rql_%02d", i), Time: t0.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprintf("req-%02d", i),
			TenantID: "acme", KeyID: "k1", Alias: "chat", Operation: "chat", Status: 200,
		}
		if i%3 == 0 {
			r.TenantID = "other"
		}
		if i%4 == 1 {
			r.Status, r.ErrorType = 429, "rate_limited"
		}
		if i == 5 {
			r.Content = &reqlog.Content{Messages: []reqlog.Message{{Role: "user", Content: "hi [email]"}}, Completion: "hello"}
		}
		recs = append(recs, r)
	}
	if err := m.AppendRequests(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRequestLogListPagesNewestFirst(t *testing.T) {
	get := requestsAPI(t, requestLogFixture(t), rootAdmin)
	var seen []string
	path := "/admin/v1/requests?limit=5"
	for range 5 {
		code, body := get(path)
		if code != 200 {
			t.Fatalf("%s = %d %s", path, code, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Data {
			seen = append(seen, r.ID)
			if r.Content != nil {
				t.Errorf("a listed record carries its content: %+v", r)
			}
		}
		if !p.HasMore {
			break
		}
		path = "/admin/v1/requests?limit=5&after=" + url.QueryEscape(p.NextCursor)
	}
	if len(seen) != 12 || seen[0] != "rql_11" || seen[11] != "rql_00" {
		t.Errorf("pages listed %v; want all 12, newest first", seen)
	}
}

func TestRequestLogFilters(t *testing.T) {
	get := requestsAPI(t, requestLogFixture(t), rootAdmin)
	for q, want := range map[string]int{
		"tenant=acme":                          8,
		"tenant=other":                         4,
		"status=429":                           3,
		"status=error":                         3,
		"status=ok":                            9,
		"status=rate_limited&tenant=acme":      2,
		"alias=embed":                          0,
		"since=2025-06-01T12:10:00Z":           2,
		"until=2025-06-01T12:02:00Z&status=ok": 1,
	} {
		code, body := get("/admin/v1/requests?" + q)
		var p page
		if code != 200 || json.Unmarshal(body, &p) != nil || len(p.Data) != want {
			t.Errorf("?%s = %d, %d records; want %d (%s)", q, code, len(p.Data), want, body)
		}
	}
	for _, q := range []string{"status=99", "status=OK!", "limit=0", "limit=501", "limit=x", "since=yesterday",
		"after=garbage", "tenant=Not_Valid!", "since=2025-06-02&until=2025-06-01"} {
		code, body := get("/admin/v1/requests?" + q)
		var w api.Wire
		if code != 400 || json.Unmarshal(body, &w) != nil || w.Error.Message == "" {
			t.Errorf("?%s = %d %s; want a 400 in OpenAI format", q, code, body)
		}
	}
}

func TestRequestLogGetOne(t *testing.T) {
	get := requestsAPI(t, requestLogFixture(t), rootAdmin)
	code, body := get("/admin/v1/requests/req-05")
	var r reqlog.Record
	if code != 200 || json.Unmarshal(body, &r) != nil || r.ID != "rql_05" || r.Content == nil || r.Content.Completion != "hello" {
		t.Errorf("get req-05 = %d %s", code, body)
	}
	if code, body := get("/admin/v1/requests/req-none"); code != 404 {
		t.Errorf("unknown request = %d %s", code, body)
	}
}

func TestRequestLogTenantAdminSeesOnlyItsTenant(t *testing.T) {
	get := requestsAPI(t, requestLogFixture(t), acmeAdmin)
	code, body := get("/admin/v1/requests?limit=100")
	var p page
	if code != 200 || json.Unmarshal(body, &p) != nil || len(p.Data) != 8 {
		t.Fatalf("acme's list = %d %s", code, body)
	}
	for _, r := range p.Data {
		if r.TenantID != "acme" {
			t.Errorf("acme's admin sees %s of tenant %s", r.ID, r.TenantID)
		}
	}
	if code, _ := get("/admin/v1/requests?tenant=other"); code != 404 {
		t.Errorf("acme asking for another tenant = %d; want 404", code)
	}
	if code, _ := get("/admin/v1/requests/req-03"); code != 404 { // other's
		t.Errorf("acme reading another tenant's request = %d; want 404", code)
	}
	if code, _ := get("/admin/v1/requests/req-05"); code != 200 {
		t.Errorf("acme reading its own request = %d", code)
	}
}

func TestRequestLogDisabled(t *testing.T) {
	get := requestsAPI(t, nil, rootAdmin)
	code, body := get("/admin/v1/requests")
	var w api.Wire
	if code != 404 || json.Unmarshal(body, &w) != nil || w.Error.Code == nil || *w.Error.Code != "request_log_disabled" {
		t.Errorf("disabled = %d %s", code, body)
	}
}
