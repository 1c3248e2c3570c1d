package route

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// Target is one provider model behind an alias.
type Target struct {
	// Provider is the provider's config name; Model the upstream model name.
	Provider string
	Model    string
	Weight   int
	Client   llm.Provider
}

// Name returns "provider/model", the target's name in logs, headers and
// errors.
func (t *Target) Name() string { return t.Provider + "/" + t.Model }

// Route is an alias and its targets.
type Route struct {
	Alias         string
	Targets       []*Target
	Fallbacks     []string
	ContextWindow int
	totalWeight   int
}

// Pick chooses a target by weighted random selection. rnd returns a value
// in [0, n); nil means math/rand/v2.
func (r *Route) Pick(rnd func(n int) int) *Target {
	if len(r.Targets) == 1 || r.totalWeight == 0 {
		return r.Targets[0]
	}
	if rnd == nil {
		rnd = rand.IntN
	}
	w := rnd(r.totalWeight)
	for _, t := range r.Targets {
		if w < t.Weight {
			return t
		}
		w -= t.Weight
	}
	return r.Targets[len(r.Targets)-1]
}

// Table is the set of routes by alias. It is immutable and safe for
// concurrent use.
type Table struct {
	routes map[string]*Route
	names  []string
}

// New builds a Table from the configured aliases and the built providers,
// keyed by provider name. It fails if a target names a provider that was
// not built; config.Validate reports such mistakes with their line first.
func New(models []config.Model, providers map[string]llm.Provider) (*Table, error) {
	t := &Table{routes: make(map[string]*Route, len(models))}
	for _, m := range models {
		if _, dup := t.routes[m.Name]; dup {
			return nil, fmt.Errorf("model %q is defined twice", m.Name)
		}
		r := &Route{Alias: m.Name, Fallbacks: m.Fallbacks, ContextWindow: m.ContextWindow}
		for _, ct := range m.Targets {
			p, ok := providers[ct.Provider]
			if !ok {
				return nil, fmt.Errorf("model %q: unknown provider %q", m.Name, ct.Provider)
			}
			w := ct.Weight
			if w <= 0 {
				w = 1
			}
			r.Targets = append(r.Targets, &Target{Provider: ct.Provider, Model: ct.Model, Weight: w, Client: p})
			r.totalWeight += w
		}
		if len(r.Targets) == 0 {
			return nil, fmt.Errorf("model %q has no targets", m.Name)
		}
		t.routes[m.Name] = r
		t.names = append(t.names, m.Name)
	}
	sort.Strings(t.names)
	return t, nil
}

// Lookup returns the route of an alias.
func (t *Table) Lookup(alias string) (*Route, bool) {
	r, ok := t.routes[alias]
	return r, ok
}

// Aliases returns every alias, sorted.
func (t *Table) Aliases() []string { return t.names }
