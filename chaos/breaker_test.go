package chaos_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
)

const outage = `
providers:
  a: {type: sim, models: {m-a: {ttft: {p50: 100ms}}}}
  b: {type: sim, models: {m-b: {ttft: {p50: 100ms}}}}
models:
  - name: chat
    targets: [{provider: a, model: m-a}]
    fallbacks: [backup]
    breaker: {consecutive_failures: 3, open_for: 10s}
  - name: backup
    targets: [{provider: b, model: m-b}]
`

func breakerOf(tbl *route.Table, target string) string {
	for _, s := range tbl.States() {
		if s.Target == target {
			return s.Breaker.State
		}
	}
	return "missing"
}

func TestPrimaryDownThenRecoveredBreakerOpensAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, outage)
		e.faults("a", "m-a", status(503))
		// 60s of outage, one request a second: every request is served.
		for i := range 60 {
			_, out, err := e.chat("chat")
			if err != nil {
				t.Fatalf("request %d during the outage: %v", i, err)
			}
			if out.Target.Name() != "b/m-b" {
				t.Fatalf("request %d answered by %s", i, out.Target.Name())
			}
			time.Sleep(time.Second)
		}
		if got := breakerOf(e.table, "a/m-a"); got != "open" {
			t.Errorf("breaker of a is %s after the outage", got)
		}
		// Open for 10s at a time, one probe each time: the primary got a
		// handful of calls, not 60 × 2.
		if n := e.calls("a"); n > 15 {
			t.Errorf("a was called %d times during a 60s outage", n)
		}

		e.faults("a", "m-a", config.Faults{}) // recovered
		recovered := time.Now()
		for {
			_, out, err := e.chat("chat")
			if err != nil {
				t.Fatal(err)
			}
			if out.Target.Name() == "a/m-a" {
				break
			}
			if since(recovered) > 30*time.Second {
				t.Fatal("traffic did not return to the primary within 30s of its recovery")
			}
			time.Sleep(time.Second)
		}
		if got := breakerOf(e.table, "a/m-a"); got != "closed" {
			t.Errorf("breaker of a is %s after a successful probe", got)
		}
	})
}

func TestEveryBreakerOpenIsACleanError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, outage)
		e.faults("a", "m-a", status(503))
		e.faults("b", "m-b", status(503))
		var err error
		for range 5 {
			_, _, err = e.chat("chat")
		}
		if llm.KindOf(err) != llm.KindOverloaded {
			t.Fatalf("err = %v", err)
		}
		before := e.calls("a") + e.calls("b")
		_, out, err := e.chat("chat")
		if out.Attempts != 0 || e.calls("a")+e.calls("b") != before || llm.KindOf(err) != llm.KindOverloaded {
			t.Errorf("with every breaker open: %d attempts, err %v", out.Attempts, err)
		}
		b, _ := json.Marshal(e.table.States())
		t.Logf("states: %s", b)
	})
}

func TestReloadKeepsBreakerStateOfUnchangedTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, outage)
		e.faults("a", "m-a", status(503))
		for range 3 {
			_, _, _ = e.gw.Chat(context.Background(), tenantAll, chatReq("chat"))
		}
		if got := breakerOf(e.table, "a/m-a"); got != "open" {
			t.Fatalf("breaker %s", got)
		}
		cfg, err := config.Parse([]byte("disable_builtin_sim: true\n"+outage), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Models = builtinModelsOff(cfg.Models)
		clients := map[string]llm.Provider{"a": e.prov["a"], "b": e.prov["b"]}
		next, err := route.New(cfg.Models, clients, e.table)
		if err != nil {
			t.Fatal(err)
		}
		if got := breakerOf(next, "a/m-a"); got != "open" {
			t.Errorf("breaker after reload: %s", got)
		}
		cfg.Models[0].Breaker.OpenFor = config.Duration(time.Minute) // changed: fresh state
		changed, _ := route.New(cfg.Models, clients, next)
		if got := breakerOf(changed, "a/m-a"); got != "closed" {
			t.Errorf("breaker after a breaker config change: %s", got)
		}
	})
}

// A target that answers 429 is told "slower", not "down": its breaker
// stays closed (the adaptive limit and Retry-After answer a rate limit),
// so one tenant's or one ingestion's burst cannot make the target
// unavailable to everyone. Requests still fail over while it refuses.
func TestRateLimitDoesNotOpenTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, outage)
		e.faults("a", "m-a", status(429))
		for i := range 20 {
			if _, out, err := e.chat("chat"); err != nil || out.Target.Name() != "b/m-b" {
				t.Fatalf("request %d: %v", i, err)
			}
			time.Sleep(time.Second)
		}
		if got := breakerOf(e.table, "a/m-a"); got != "closed" {
			t.Errorf("breaker of a is %s after 20 rate-limited requests", got)
		}
	})
}
