package admin_test

import (
	"slices"
	"testing"
)

type toolsJSON struct {
	ID     string   `json:"id"`
	Tools  []string `json:"tools"`
	Limits struct {
		RequestsPerMinute int `json:"requests_per_minute"`
	} `json:"limits"`
	Priority string `json:"priority"`
}

// Tool allowlists of tenants and keys are set at creation and changed by
// PATCH, which replaces the list, keeps it when left out, clears it with
// [], and refuses a malformed pattern; the key set reloads with them.
func TestToolAllowlists(t *testing.T) {
	e := newEnv(t)
	var tn toolsJSON
	e.expect("POST", "/admin/v1/tenants", `{"id":"acme","tools":["search_*","crm.get"],"limits":{"requests_per_minute":10}}`, 201, &tn)
	if !slices.Equal(tn.Tools, []string{"search_*", "crm.get"}) {
		t.Fatalf("created tenant tools %v", tn.Tools)
	}
	e.expect("PATCH", "/admin/v1/tenants/acme", `{"priority":"batch"}`, 200, &tn)
	if !slices.Equal(tn.Tools, []string{"search_*", "crm.get"}) || tn.Limits.RequestsPerMinute != 10 {
		t.Errorf("a PATCH without tools changed them: %+v", tn)
	}
	e.expect("PATCH", "/admin/v1/tenants/acme", `{"tools":["search_web"]}`, 200, &tn)
	if !slices.Equal(tn.Tools, []string{"search_web"}) || tn.Priority != "batch" || tn.Limits.RequestsPerMinute != 10 {
		t.Errorf("after PATCH tools: %+v", tn)
	}

	var k keyJSON
	e.expect("POST", "/admin/v1/keys", `{"tenant_id":"acme","name":"bot","tools":["search_web","shell"]}`, 201, &k)
	var kt toolsJSON
	e.expect("PATCH", "/admin/v1/keys/"+k.ID, `{"limits":{"requests_per_minute":5}}`, 200, &kt)
	if !slices.Equal(kt.Tools, []string{"search_web", "shell"}) || kt.Limits.RequestsPerMinute != 5 {
		t.Errorf("key after a limits PATCH: %+v", kt)
	}
	p, err := e.keys.Authenticate(k.Secret)
	if err != nil || !slices.Equal(p.KeyTools, []string{"search_web", "shell"}) || !slices.Equal(p.TenantTools, []string{"search_web"}) {
		t.Errorf("principal tools key %v tenant %v, %v", p.KeyTools, p.TenantTools, err)
	}
	e.expect("PATCH", "/admin/v1/keys/"+k.ID, `{"tools":[]}`, 200, &kt)
	if kt.Tools == nil || len(kt.Tools) != 0 {
		t.Errorf("cleared key tools = %#v; want []", kt.Tools)
	}
	if p, _ := e.keys.Authenticate(k.Secret); p.KeyTools != nil {
		t.Errorf("cleared key tools still apply: %v", p.KeyTools)
	}

	for _, body := range []string{`{"tools":["[bad"]}`, `{"tools":[""]}`, `{"tools":["a","a"]}`, `{"tools":"a"}`} {
		if we := e.expectError("PATCH", "/admin/v1/keys/"+k.ID, body, 400); we.Param == nil || *we.Param != "tools" {
			t.Errorf("%s: param %v", body, we.Param)
		}
	}
	e.expectError("POST", "/admin/v1/tenants", `{"id":"bad","tools":["x["]}`, 400)
}
