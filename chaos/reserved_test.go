package chaos_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
)

// reserved is an alias with a dedicated target for critical journeys (a
// provisioned-throughput model) and a shared one.
const reserved = `
providers:
  s: {type: sim, models: {dedicated: {ttft: {p50: 200ms}}, shared: {ttft: {p50: 200ms}}}}
models:
  - name: chat
    targets:
      - {provider: s, model: shared}
      - {provider: s, model: dedicated, classes: [critical]}
    retry: {max_attempts: 1}
`

// Critical requests use the target reserved for them while it has room and
// spill to the shared target only when it is full — without spending an
// attempt on the full one (max_attempts is 1 here); other classes never
// use it.
func TestReservedTargetServesCriticalFirstAndOnlyCritical(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctl := shed.New(shed.Options{})
		ctl.Configure("s/dedicated", shed.Config{Initial: 2, Max: 2, CriticalReserve: -1})
		e := newObservedEnv(t, reserved, gateway.Options{Capacity: ctl})
		ask := func(class string) string {
			req := chatReq("chat")
			req.Priority = class
			_, out, err := e.gw.Chat(context.Background(), tenant.Principal{}, req)
			if err != nil {
				t.Fatalf("%s: %v", class, err)
			}
			return out.Target.Name()
		}
		for range 20 {
			if got := ask("interactive"); got != "s/shared" {
				t.Fatalf("an interactive request went to %s", got)
			}
			if got := ask("batch"); got != "s/shared" {
				t.Fatalf("a batch request went to %s", got)
			}
		}
		// One at a time, critical requests all go to the dedicated target.
		for range 10 {
			if got := ask("critical"); got != "s/dedicated" {
				t.Fatalf("a critical request went to %s with the dedicated target free", got)
			}
		}
		// Six at once: the dedicated target's two permits, then the shared.
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			got = map[string]int{}
		)
		for range 6 {
			wg.Go(func() {
				n := ask("critical")
				mu.Lock()
				got[n]++
				mu.Unlock()
			})
			time.Sleep(time.Millisecond)
		}
		wg.Wait()
		if got["s/dedicated"] != 2 || got["s/shared"] != 4 {
			t.Errorf("six concurrent critical requests went to %v; want 2 on the dedicated target (its limit) and 4 spilled", got)
		}
	})
}
