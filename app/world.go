package app

import (
	"fmt"
	"reflect"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/openai"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
)

// world is everything a config builds: the providers and the routing table.
// It is immutable once built.
type world struct {
	providers map[string]builtProvider
	routes    *route.Table
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
	return w, nil
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
		})
	case config.ProviderSim:
		return sim.New(name, pc.Seed, pc.SimModels), nil
	}
	return nil, fmt.Errorf("unknown provider type %q", pc.Type)
}
