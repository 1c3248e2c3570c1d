package app

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/anthropic"
	"github.com/bulwark-ai/bulwark/llm/bedrock"
	"github.com/bulwark-ai/bulwark/llm/gemini"
	"github.com/bulwark-ai/bulwark/llm/local"
	"github.com/bulwark-ai/bulwark/llm/openai"
	"github.com/bulwark-ai/bulwark/llm/openai/loadmetrics"
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
	// load scrapes the providers with load_metrics; like capacity, one
	// Group lives across reloads (a scraper whose settings are unchanged
	// keeps running with its last report), reconfigured by each world.
	load *loadmetrics.Group
}

type builtProvider struct {
	cfg    config.Provider
	client llm.Provider
}

// buildWorld builds the providers and routes of cfg, reusing prev's
// providers whose configuration is unchanged.
func buildWorld(cfg *config.Config, prev *world, log *slog.Logger) (*world, error) {
	w := &world{providers: make(map[string]builtProvider, len(cfg.Providers))}
	clients := make(map[string]llm.Provider, len(cfg.Providers))
	for name, pc := range cfg.Providers {
		if prev != nil {
			if old, ok := prev.providers[name]; ok && sameClient(old.cfg, pc) {
				w.providers[name] = builtProvider{cfg: pc, client: old.client}
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
	var grp *loadmetrics.Group
	if prev != nil {
		grp = prev.load
	}
	w.load = buildLoadMetrics(cfg, grp, log)
	t.UseLoad(upstreamLoad{w.load})
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
				CriticalReserve: mc.CriticalReserve, Tolerance: mc.LatencyTolerance, Jitter: mc.LatencyJitter.D(),
				QueueTarget: mc.QueueTarget.D(), QueueInterval: mc.QueueInterval.D(),
				IgnoreHeadroom: !cfg.Providers[t.Provider].HeedsRateLimitHeaders(),
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
			H2C:            pc.H2C,
			WrapTransport:  telemetry.Transport,
			ContinuePrefix: pc.ContinuePrefix,
		})
	case config.ProviderAnthropic:
		return anthropic.New(anthropic.Options{
			Name:           name,
			BaseURL:        pc.BaseURL,
			APIKey:         pc.APIKey,
			Headers:        pc.Headers,
			ConnectTimeout: pc.ConnectTimeout.D(),
			WrapTransport:  telemetry.Transport,
		})
	case config.ProviderGemini:
		return gemini.New(gemini.Options{
			Name:           name,
			BaseURL:        pc.BaseURL,
			APIKey:         pc.APIKey,
			Headers:        pc.Headers,
			ConnectTimeout: pc.ConnectTimeout.D(),
			WrapTransport:  telemetry.Transport,
		})
	case config.ProviderBedrock:
		return bedrock.New(context.Background(), bedrock.Options{
			Name:             name,
			Region:           pc.Region,
			Endpoint:         pc.Endpoint,
			Profile:          pc.Profile,
			Headers:          pc.Headers,
			ConnectTimeout:   pc.ConnectTimeout.D(),
			WrapTransport:    telemetry.Transport,
			DefaultMaxTokens: 4096,
			ContinuePrefix:   pc.ContinuePrefix == config.ContinuePrefill,
		})
	case config.ProviderLocal:
		return local.NewModels(name), nil
	case config.ProviderSim:
		s := sim.New(name, pc.Seed, pc.SimModels)
		s.SetContinuesPrefix(pc.ContinuePrefix != "")
		return s, nil
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

// sameClient reports whether a and b build the same provider client: they
// differ at most in load_metrics, which the scrapers own.
func sameClient(a, b config.Provider) bool {
	a.LoadMetrics, b.LoadMetrics = nil, nil
	return reflect.DeepEqual(a, b)
}

// buildLoadMetrics makes grp (a new Group when nil) scrape every openai
// provider with load_metrics, and returns it. The scrapers of providers
// the config no longer scrapes stop here, before the new world is swapped
// in: if the reload then fails, the old world's least_loaded routes run
// on least outstanding for those providers until the next good reload.
func buildLoadMetrics(cfg *config.Config, grp *loadmetrics.Group, log *slog.Logger) *loadmetrics.Group {
	if grp == nil {
		grp = loadmetrics.NewGroup(loadmetrics.Options{Logger: log})
	}
	names := make([]string, 0, len(cfg.Providers))
	for name := range cfg.Providers {
		names = append(names, name)
	}
	sort.Strings(names)
	var targets []loadmetrics.Target
	for _, name := range names {
		pc := cfg.Providers[name]
		lm := pc.LoadMetrics
		if lm == nil || pc.Type != config.ProviderOpenAI {
			continue
		}
		targets = append(targets, loadmetrics.Target{
			Provider: name, URL: lm.MetricsURL(pc.BaseURL), Interval: lm.Every(), Timeout: lm.TimeoutOrDefault(),
		})
	}
	grp.Configure(targets)
	return grp
}

// upstreamLoad is the route.LoadSource the scrapers feed.
type upstreamLoad struct{ g *loadmetrics.Group }

func (u upstreamLoad) UpstreamLoad(provider, model string) (route.UpstreamLoad, bool) {
	r, ok := u.g.Load(provider, model)
	if !ok {
		return route.UpstreamLoad{}, false
	}
	return route.UpstreamLoad{Waiting: r.Waiting, Running: r.Running, KVCache: r.KVCache, HasKVCache: r.HasKVCache}, true
}

// refreshUpstreamLoad mirrors every target's fresh load report into the
// bulwark_upstream_* gauges; it runs before each metrics scrape. The
// labels are the configured targets, whatever the servers report.
func (a *App) refreshUpstreamLoad() {
	a.mu.Lock()
	w := a.world
	a.mu.Unlock()
	var samples []telemetry.UpstreamLoadSample
	for _, s := range w.routes.States() {
		provider, model, _ := strings.Cut(s.Target, "/") // provider names hold no "/"
		if w.providers[provider].cfg.LoadMetrics == nil {
			continue
		}
		r, ok := w.load.Load(provider, model)
		if !ok {
			continue
		}
		samples = append(samples, telemetry.UpstreamLoadSample{
			Provider: provider, Model: model, Waiting: r.Waiting, Running: r.Running,
			KVCache: r.KVCache, HasKVCache: r.HasKVCache,
		})
	}
	a.obs.metrics.SetUpstreamLoad(samples)
}

// closeLoadMetrics stops the scrapers and waits for them.
func (a *App) closeLoadMetrics() {
	a.mu.Lock()
	w := a.world
	a.mu.Unlock()
	if w != nil && w.load != nil {
		w.load.Close()
	}
}
