package faults

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// asyncSim answers slowly enough (60 ms a call, two jobs at once) that a
// kill lands while background responses run; the webhook endpoint is
// the test's.
const asyncSim = `
log: {level: info}
providers:
  lab:
    type: sim
    models:
      slow-chat: {ttft: {p50: 60ms, p99: 80ms}, output_tokens: {min: 3, max: 3}}
models:
  - name: chat
    targets: [{provider: lab, model: slow-chat}]
async: {workers: 2}
webhooks:
  - url: %s
    secret: whsec_%s
    events: [response.completed]
`

// Issue 18 items 4 and 5: background responses killed with SIGKILL at
// random moments, again and again, are picked up at each restart and
// each ends completed exactly once: one stored response, one job end,
// one response.completed event (delivered at least once, every delivery
// with the same webhook-id), even for the jobs that ended just before a
// kill.
func TestKilledBackgroundResponsesCompleteOnce(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	hooks := map[string]map[string]int{} // response id → webhook-id → deliveries
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e struct{ Data struct{ ID string } }
		_ = json.Unmarshal(b, &e)
		mu.Lock()
		if hooks[e.Data.ID] == nil {
			hooks[e.Data.ID] = map[string]int{}
		}
		hooks[e.Data.ID][r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer sink.Close()
	cfg := fmt.Sprintf(asyncSim, sink.URL, base64.StdEncoding.EncodeToString([]byte("kill test secret")))
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, cfg)
	const n = 40
	var ids []string
	for i := range n {
		status, b, err := p.do(ctx, "POST", "/v1/responses", fmt.Sprintf(`{"model":"chat","input":"hello %d","background":true}`, i))
		if err != nil || status != 200 {
			t.Fatalf("create: %d %s %v", status, b, err)
		}
		var r struct{ ID, Status string }
		if err := json.Unmarshal(b, &r); err != nil || r.Status != "queued" {
			t.Fatalf("create: %s %v", b, err)
		}
		ids = append(ids, r.ID)
	}
	rng := rand.New(rand.NewPCG(18, 4))
	resumed := 0
	for trial := range 5 {
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		p.kill()
		p = serve(t, data, cfg)
		time.Sleep(50 * time.Millisecond)
		if strings.Contains(p.logs.String(), "resuming job") {
			resumed++
		}
		t.Logf("kill %d: restarted", trial+1)
	}
	if resumed < 3 {
		t.Fatalf("only %d kills landed while jobs ran", resumed)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			status, b, err := p.do(ctx, "GET", "/v1/responses/"+id, "")
			if err != nil || status != 200 {
				t.Fatalf("poll %s: %d %s %v", id, status, b, err)
			}
			var r struct{ Status string }
			_ = json.Unmarshal(b, &r)
			if r.Status == "completed" {
				break
			}
			if r.Status != "queued" && r.Status != "in_progress" {
				t.Fatalf("%s after the kills: %s", id, b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not complete: %s\n%s", id, b, p.logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Every webhook arrives (the outbox survives the kills).
	for {
		mu.Lock()
		got := len(hooks)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks for %d of %d responses\n%s", got, n, p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	for _, id := range ids {
		if len(hooks[id]) != 1 {
			t.Errorf("%s: deliveries under %d webhook-ids, want 1: %v", id, len(hooks[id]), hooks[id])
		}
	}
	mu.Unlock()
	if err := p.term(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "bulwark.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, jobs, events int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM responses").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE status = 'completed'").Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM webhook_events WHERE type = 'response.completed'").Scan(&events); err != nil {
		t.Fatal(err)
	}
	if stored != n || jobs != n || events != n {
		t.Errorf("%d stored responses, %d completed jobs, %d events; want %d of each", stored, jobs, events, n)
	}
}
