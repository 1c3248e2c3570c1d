package app

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// budgetAnswer is GET …/budget.
type budgetAnswer struct {
	Scope               string `json:"scope"`
	ID                  string `json:"id"`
	AmountNanodollars   int64  `json:"amount_nanodollars"`
	Hard                bool   `json:"hard"`
	SpentNanodollars    *int64 `json:"spent_nanodollars"`
	ReservedNanodollars *int64 `json:"reserved_nanodollars"`
}

func getBudget(t *testing.T, ts *testServer, path string) budgetAnswer {
	t.Helper()
	resp, body := ts.do(t, "GET", path, "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var b budgetAnswer
	if err := json.Unmarshal(body, &b); err != nil || b.SpentNanodollars == nil || b.ReservedNanodollars == nil {
		t.Fatalf("GET %s: %v %s; want the spending", path, err, body)
	}
	return b
}

func putBudget(t *testing.T, ts *testServer, path, body string) {
	t.Helper()
	if resp, b := ts.do(t, "PUT", path, body); resp.StatusCode != 200 {
		t.Fatalf("PUT %s %s: %d %s", path, body, resp.StatusCode, b)
	}
}

// metricValue returns the value of the sample of name with labels
// ({a="b",…}, as the exposition writes them) at /metrics, or 0.
func metricValue(t *testing.T, ts *testServer, sample string) float64 {
	t.Helper()
	_, body := ts.do(t, "GET", "/metrics", "")
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// A hard budget refuses with 429 budget_exceeded once the worst case of the
// next request no longer fits, and what was spent survives a restart: the
// new process seeds its counters from the usage ledger.
func TestBudgetHardRefusesAndSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	inDir := func(o *Options) { o.DataDir = dataDir }
	ts := start(t, pricedConfig, inDir)
	keyID, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	auth := "Bearer " + secret
	budgetPath := "/admin/v1/keys/" + keyID + "/budget"
	// About 20k nanodollars a request, about 50k reserved for its worst
	// case: a few requests fit.
	putBudget(t, ts, budgetPath, `{"amount_nanodollars":100000,"period":"day","hard":true}`)

	accepted, lastLeft := 0, 0.0001
	for {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
		if resp.StatusCode == 200 {
			if accepted++; accepted > 20 {
				t.Fatal("a $0.0001 budget accepted 20 requests")
			}
			// What is left after this request's reservation, in dollars.
			h := resp.Header.Get("x-bulwark-budget-remaining")
			left, err := strconv.ParseFloat(h, 64)
			if err != nil || left < 0 || left >= lastLeft {
				t.Errorf("request %d: x-bulwark-budget-remaining %q; want dollars below %v", accepted, h, lastLeft)
			}
			lastLeft = left
			continue
		}
		mustOpenAIError(t, resp, body, 429, "budget_exceeded")
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 86400 {
			t.Errorf("Retry-After %q; want the seconds until midnight UTC", resp.Header.Get("Retry-After"))
		}
		break
	}
	if accepted == 0 {
		t.Fatal("no request fit the budget")
	}
	t.Logf("%d requests fit a hard budget of 100000 nanodollars", accepted)
	b := getBudget(t, ts, budgetPath)
	u := waitUsage(t, ts, "tenant_id=acme&key_id="+keyID+"&group_by=key", int64(accepted+1))
	if *b.SpentNanodollars != u.Data[0].Cost || *b.SpentNanodollars > b.AmountNanodollars || *b.ReservedNanodollars != 0 {
		t.Errorf("budget %+v: spent %d, ledger %d; want the ledger's cost, within the amount, nothing reserved",
			b, *b.SpentNanodollars, u.Data[0].Cost)
	}
	if n := metricValue(t, ts, `bulwark_budget_overages_total{mode="hard",scope="key"}`); n != 1 {
		t.Errorf("hard overages metric = %v; want 1", n)
	}

	ts.stop()
	ts = start(t, pricedConfig, inDir)
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth)
	mustOpenAIError(t, resp, body, 429, "budget_exceeded")
	if b2 := getBudget(t, ts, budgetPath); *b2.SpentNanodollars != *b.SpentNanodollars {
		t.Errorf("after a restart, spent %d; want %d from the ledger", *b2.SpentNanodollars, *b.SpentNanodollars)
	}
	// Raising the budget takes effect at once.
	putBudget(t, ts, budgetPath, `{"amount_usd":1,"period":"day","hard":true}`)
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", auth); resp.StatusCode != 200 {
		t.Errorf("after raising the budget: %d %s", resp.StatusCode, body)
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A soft budget serves every request, logs its first overage in the
// period once and counts every one.
func TestSoftBudgetWarnsOnceAndCounts(t *testing.T) {
	logs := &lockedBuffer{}
	ts := start(t, pricedConfig, func(o *Options) { o.LogOutput = io.Writer(logs) })
	_, secret := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	putBudget(t, ts, "/admin/v1/tenants/acme/budget", `{"amount_nanodollars":1,"period":"month"}`)
	for i := range 3 {
		if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret); resp.StatusCode != 200 {
			t.Fatalf("request %d over a soft budget: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := strings.Count(logs.String(), "soft budget exceeded"); n != 1 {
		t.Errorf("%d warnings logged; want 1:\n%s", n, logs.String())
	}
	if n := metricValue(t, ts, `bulwark_budget_overages_total{mode="soft",scope="tenant"}`); n != 3 {
		t.Errorf("soft overages metric = %v; want 3", n)
	}
	if b := getBudget(t, ts, "/admin/v1/tenants/acme/budget"); *b.SpentNanodollars <= 1 || b.Hard {
		t.Errorf("budget %+v; want spending over the amount", b)
	}
}
