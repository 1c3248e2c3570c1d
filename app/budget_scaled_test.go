package app

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 7 item 5, budgets: three gateway processes sharing Postgres and
// Redis, a key with a hard budget, concurrent requests spread across them.
// The spending committed stays within the budget (the bound allows one
// request's reservation over it; reserving every request's worst case
// makes it exact here), and every refusal is a 429 budget_exceeded.
func TestScaledThreeReplicasShareOneBudget(t *testing.T) {
	replicas := scaledReplicas(t, pricedConfig, 3)
	keyID, secret := createKey(t, replicas[0], `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	// About 20k nanodollars a request: room for a few dozen.
	const budget = 600_000
	putBudget(t, replicas[1], "/admin/v1/keys/"+keyID+"/budget",
		fmt.Sprintf(`{"amount_nanodollars":%d,"period":"month","hard":true}`, budget))
	// A key created after the budget was set: once every replica knows
	// it, every replica has reloaded its key set since the budget was set.
	_, marker := createKey(t, replicas[2], "", `{"tenant_id":"acme","name":"marker"}`)
	for i, r := range replicas {
		deadline := time.Now().Add(2 * time.Second)
		for {
			resp, _ := r.do(t, "GET", "/v1/models", "", "Authorization", "Bearer "+marker)
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d does not know the new key after 2s: %d", i, resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	const requests = 150
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 30)
	for i := range requests {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, body := replicas[i%3].do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret)
			switch resp.StatusCode {
			case 200:
				accepted.Add(1)
			case 429:
				var e wireError
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == nil || *e.Error.Code != "budget_exceeded" ||
					resp.Header.Get("Retry-After") == "" {
					t.Errorf("request %d refused with %s, Retry-After %q; want budget_exceeded", i, body, resp.Header.Get("Retry-After"))
				}
				refused.Add(1)
			default:
				t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d requests accepted across 3 replicas by a hard budget of %d nanodollars", accepted.Load(), requests, budget)
	if accepted.Load() == 0 || refused.Load() == 0 || accepted.Load()+refused.Load() != requests {
		t.Fatalf("accepted %d, refused %d of %d; want both", accepted.Load(), refused.Load(), requests)
	}

	// The ledger holds every request once; what the accepted ones cost is
	// within the budget, and is what the shared counter says was spent.
	u := waitUsage(t, replicas[0], "tenant_id=acme&key_id="+keyID+"&group_by=key", requests)
	spent := u.Data[0].Cost
	if spent > budget {
		t.Errorf("committed spending %d nanodollars; want at most the budget, %d", spent, budget)
	}
	// With about 20k a request and about 50k reserved for each worst case,
	// the budget is nearly used up: no replica kept its own count.
	if spent < budget/2 {
		t.Errorf("committed spending %d nanodollars of %d; the replicas refused too early", spent, budget)
	}
	for i, r := range replicas {
		bu := getBudget(t, r, "/admin/v1/keys/"+keyID+"/budget")
		if *bu.SpentNanodollars != spent || *bu.ReservedNanodollars != 0 {
			t.Errorf("replica %d: budget spent %d, reserved %d; want the ledger's %d, nothing reserved",
				i, *bu.SpentNanodollars, *bu.ReservedNanodollars, spent)
		}
	}
}
