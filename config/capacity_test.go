package config

import (
	"strings"
	"testing"
	"time"
)

func TestCapacityConfigParsesAndValidates(t *testing.T) {
	good := `
disable_builtin_sim: true
server: {max_inflight: 2000, max_queued: 500}
capacity: {max_wait: 5s, critical_reserve: 0.1, tenant_weights: {acme: 2}}
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    capacity: {initial_limit: 8, min_limit: 2, max_limit: 64, queue: 32, critical_reserve: 0.25, latency_tolerance: 1.3,
                latency_jitter: 5ms, queue_target: 20ms, queue_interval: 250ms}
`
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	mc := c.Models[0].Capacity
	if c.Server.MaxInflight != 2000 || c.Server.MaxQueued != 500 || c.Capacity.MaxWait.D() != 5*time.Second ||
		c.Capacity.TenantWeights["acme"] != 2 || mc.InitialLimit != 8 || mc.Queue != 32 || mc.LatencyTolerance != 1.3 ||
		mc.LatencyJitter.D() != 5*time.Millisecond || mc.QueueTarget.D() != 20*time.Millisecond || mc.QueueInterval.D() != 250*time.Millisecond {
		t.Errorf("decoded %+v %+v %+v", c.Server, c.Capacity, mc)
	}

	bad := `
disable_builtin_sim: true
server: {max_inflight: -1}
capacity: {critical_reserve: 1.5, tenant_weights: {acme: 0}}
providers:
  s: {type: sim, models: {m: {}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    capacity: {min_limit: 10, max_limit: 5, queue: -3, latency_tolerance: 0.9, latency_jitter: -1ms, queue_target: 1s, queue_interval: 100ms}
`
	_, err = Parse([]byte(bad), nil)
	if err == nil {
		t.Fatal("bad capacity config accepted")
	}
	for _, want := range []string{"server.max_inflight", "capacity.critical_reserve", "capacity.tenant_weights.acme",
		"models[0].capacity.min_limit", "models[0].capacity.queue", "models[0].capacity.latency_tolerance",
		"models[0].capacity.latency_jitter", "models[0].capacity.queue_target"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %s:\n%v", want, err)
		}
	}
}
