package app

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
)

// ledgerStatuses returns the statuses of the usage records of key, sorted,
// read from the embedded store in the data directory.
func ledgerStatuses(t *testing.T, ts *testServer, keyID string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(ts.app.Config().DataDir, "bulwark.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), "SELECT status FROM usage_records WHERE key_id = ? ORDER BY status", keyID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A request a rate limit refuses is in the usage ledger as rate_limited,
// not unknown.
func TestLedgerRecordsRateLimitRefusal(t *testing.T) {
	ts := start(t, fastConfig)
	keyID, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app","limits":{"requests_per_minute":1}}`)
	auth := "Bearer " + secret
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
	mustOpenAIError(t, resp, body, 429, "rate_limit_exceeded")
	waitUsage(t, ts, "key_id="+keyID, 2)
	if got, want := ledgerStatuses(t, ts, keyID), []string{"ok", "rate_limited"}; !slices.Equal(got, want) {
		t.Errorf("ledger statuses = %q; want %q", got, want)
	}
}

// A request a hard budget refuses is in the usage ledger as
// budget_exceeded.
func TestLedgerRecordsBudgetRefusal(t *testing.T) {
	ts := start(t, pricedConfig)
	keyID, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	putBudget(t, ts, "/admin/v1/keys/"+keyID+"/budget", `{"amount_nanodollars":1,"period":"day","hard":true}`)
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret)
	mustOpenAIError(t, resp, body, 429, "budget_exceeded")
	waitUsage(t, ts, "key_id="+keyID, 1)
	if got, want := ledgerStatuses(t, ts, keyID), []string{"budget_exceeded"}; !slices.Equal(got, want) {
		t.Errorf("ledger statuses = %q; want %q", got, want)
	}
}
