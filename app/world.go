package app

import (
	"fmt"
	"reflect"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/openai"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/telemetry"
)

// world is everything a config builds: the providers and the routing table.
// It is immutable once built.
type world struct {
	providers map[string]builtProvider
	routes    *route.Table
	// capacity is admission control; one Controller lives across reloads
	// (what its limiters learned stays), reconfigured by each world.
	capacity *shed.Controller
}

type builtProvider struct {
	cfg    config.Provider
	client llm.Provider
}

// buildWorld builds the providers and routes of cfg, reusing prev's
// providers whose configuration is unchanged.
func buildWorld(cfg *config.Config, prev *world) (*world, error) {
	w := &world{providers: make(map[string]builtProvider, len(cfg.Providers))}
	clients := make(map[string]llm.Provider, len(cfg.Providers))
	for name, pc := range cfg.Providers {
		if prev != nil {
			if old, ok := prev.providers[name]; ok && reflect.DeepEqual(old.cfg, pc) {
				w.providers[name] = old
				clients[name] = old.client
				continue
			}
		}
		c, err := newProvider(name, pc)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", name, err)
		}
		w.providers[name] = builtProvider{cfg: pc, client: c}
		clients[name] = c
	}
	var old *route.Table
	if prev != nil {
		old = prev.routes
	}
	t, err := route.New(cfg.Models, clients, old)
	if err != nil {
		return nil, err
	}
	w.routes = t
	var ctl *shed.Controller
	if prev != nil {
		ctl = prev.capacity
	}
	w.capacity = buildCapacity(cfg, ctl)
	return w, nil
}

// buildCapacity configures admission control from cfg: the process gate
// and each target's limiter (the first alias routing to a target sets
// it). ctl, when not nil, is reconfigured and returned.
func buildCapacity(cfg *config.Config, ctl *shed.Controller) *shed.Controller {
	o := shed.Options{
		MaxInflight: cfg.Server.MaxInflight, MaxQueued: cfg.Server.MaxQueued,
		CriticalReserve: cfg.Capacity.CriticalReserve, MaxWait: cfg.Capacity.MaxWait.D(),
		TenantWeights: cfg.Capacity.TenantWeights, Disabled: cfg.Capacity.Disabled,
	}
	if ctl == nil {
		ctl = shed.New(o)
	} else {
		ctl.Reconfigure(o)
	}
	seen := map[string]bool{}
	for _, m := range cfg.Models {
		mc := m.Capacity
		for _, t := range m.Targets {
			name := t.Provider + "/" + t.Model
			if seen[name] {
				continue
			}
			seen[name] = true
			ctl.Configure(name, shed.Config{
				Initial: mc.InitialLimit, Min: mc.MinLimit, Max: mc.MaxLimit, Queue: mc.Queue,
				CriticalReserve: mc.CriticalReserve, Tolerance: mc.LatencyTolerance,
			})
		}
	}
	return ctl
}

// newProvider is the one place a provider type becomes a vendor package.
func newProvider(name string, pc config.Provider) (llm.Provider, error) {
	switch pc.Type {
	case config.ProviderOpenAI:
		return openai.New(openai.Options{
			Name:           name,
			BaseURL:        pc.BaseURL,
			APIKey:         pc.APIKey,
			APIVersion:     pc.APIVersion,
			Headers:        pc.Headers,
			ConnectTimeout: pc.ConnectTimeout.D(),
			WrapTransport:  telemetry.Transport,
		})
	case config.ProviderSim:
		return sim.New(name, pc.Seed, pc.SimModels), nil
	}
	return nil, fmt.Errorf("unknown provider type %q", pc.Type)
}

// refreshCapacityMetrics mirrors ctl's limits and queue depths into m.
func refreshCapacityMetrics(m *telemetry.Metrics, ctl *shed.Controller) {
	s := ctl.Snapshot()
	m.SetAdaptiveLimit("global", float64(s.MaxInflight), int(s.Inflight))
	depth := map[string]int{}
	for _, t := range s.Targets {
		m.SetAdaptiveLimit(t.Target, t.Limit, t.Inflight)
		for class, n := range t.Queued {
			depth[class] += n
		}
	}
	for _, c := range shed.Classes {
		m.SetQueueDepth(c.String(), depth[c.String()])
	}
}

// capacity returns the admission control in force (one Controller for the
// life of the app).
func (a *App) capacity() *shed.Controller {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.world.capacity
}
