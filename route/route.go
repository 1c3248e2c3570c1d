package route

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/guard"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/resilience"
	"github.com/bulwark-ai/bulwark/tools"
)

// Target is one provider model behind an alias.
type Target struct {
	// Provider is the provider's config name; Model the upstream model name.
	Provider string
	Model    string
	Weight   int
	Client   llm.Provider
	// Health is shared by every alias routing to the same provider and
	// model, and survives reloads (see New).
	Health *Health
	// ContinuesPrefix: the provider declares that it continues an answer
	// from a prefix (llm.Continuer); see CanContinue.
	ContinuesPrefix bool
	// Classes are the priority classes the target is reserved for
	// (config targets[].classes); empty: every class, no preference.
	Classes []string
	// name is "provider/model", built once by New: Name is called several
	// times per request (headers, logs, metrics, exclusion sets).
	name string
}

// CanContinue reports whether a broken stream may be continued on t: its
// provider declares that it continues a prefix, and t has not refused a
// prefill (Health.RefusePrefill).
func (t *Target) CanContinue() bool {
	return t.ContinuesPrefix && (t.Health == nil || !t.Health.PrefillRefused())
}

// Reserved reports whether t is reserved for some classes only.
func (t *Target) Reserved() bool { return len(t.Classes) > 0 }

// Serves reports whether a request of class may use t: t is not reserved,
// or reserved for class.
func (t *Target) Serves(class string) bool {
	return len(t.Classes) == 0 || slices.Contains(t.Classes, class)
}

// Name returns "provider/model", the target's name in logs, headers and
// errors.
func (t *Target) Name() string {
	if t.name != "" {
		return t.name
	}
	return t.Provider + "/" + t.Model
}

// Route is an alias, its targets and its resilience policy.
type Route struct {
	Alias         string
	Targets       []*Target
	Fallbacks     []string
	ContextWindow int
	Balance       string
	Policy        Policy
	totalWeight   int

	// Limits are the alias's own rate limits (config models[].limits).
	Limits config.ModelLimits

	// Tenants, when not empty, are the only tenants the alias serves
	// (Serves).
	Tenants []string

	// Cache is the alias's use of the response cache (config
	// models[].cache).
	Cache config.ModelCache
	// Knowledge grounds the alias's chat answers in knowledge bases
	// (config models[].knowledge, with its defaults); zero: none.
	Knowledge config.AliasKnowledge
	// Guard is the alias's guardrail chains (config models[].guardrails);
	// nil: none.
	Guard *guard.Policy
	// Tools is the alias's tool governance and structured-output check
	// (config models[].tools and models[].response_format); nil: none.
	Tools *tools.Policy
}

// Pick chooses a target by the route's balance policy among the targets
// that skip does not reject and whose breaker is not open. It returns nil
// when there is none. rnd returns a value in [0, n); nil means
// math/rand/v2. A nil skip rejects nothing.
func (r *Route) Pick(rnd func(n int) int, skip func(*Target) bool) *Target {
	if rnd == nil {
		rnd = rand.IntN
	}
	cands := make([]*Target, 0, len(r.Targets))
	total := 0
	for _, t := range r.Targets {
		if skip != nil && skip(t) {
			continue
		}
		if t.Health != nil && !t.Health.Breaker.Ready() {
			continue
		}
		cands = append(cands, t)
		total += t.Weight
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	switch r.Balance {
	case config.BalanceLeastLoaded:
		return leastLoaded(cands, rnd)
	case config.BalanceLeastOutstanding, config.BalancePeakEWMA:
		// Power of two choices: two distinct random candidates, the
		// cheaper wins (ties go to the first drawn).
		i := rnd(len(cands))
		j := rnd(len(cands) - 1)
		if j >= i {
			j++
		}
		a, b := cands[i], cands[j]
		if cost(a, r.Balance) <= cost(b, r.Balance) {
			return a
		}
		return b
	}
	w := rnd(total)
	for _, t := range cands {
		if w < t.Weight {
			return t
		}
		w -= t.Weight
	}
	return cands[len(cands)-1]
}

// PickFor is Pick for a request of class: targets reserved for other
// classes are never chosen, and while a target reserved for class is
// available (not skipped, breaker not open) only those are.
func (r *Route) PickFor(class string, rnd func(n int) int, skip func(*Target) bool) *Target {
	barred := func(t *Target) bool { return !t.Serves(class) || skip != nil && skip(t) }
	reserved := false
	for _, t := range r.Targets {
		if t.Reserved() && !barred(t) && (t.Health == nil || t.Health.Breaker.Ready()) {
			reserved = true
			break
		}
	}
	if !reserved {
		return r.Pick(rnd, barred)
	}
	return r.Pick(rnd, func(t *Target) bool { return !t.Reserved() || barred(t) })
}

func cost(t *Target, balance string) float64 {
	if t.Health == nil {
		return 0
	}
	if balance == config.BalanceLeastOutstanding {
		return float64(t.Health.Load.Outstanding())
	}
	return t.Health.Load.Cost()
}

// Table is the set of routes by alias. It is immutable and safe for
// concurrent use.
type Table struct {
	routes map[string]*Route
	names  []string
	health map[string]*Health // by target name
}

// New builds a Table from the configured aliases and the built providers,
// keyed by provider name. prev, when not nil, is the table being replaced:
// a target whose provider, model, breaker and budget settings are unchanged
// keeps its Health, as long as the provider itself was not rebuilt. When several aliases route to one target, the first
// alias's breaker and budget settings apply. New fails if a target names a
// provider that was not built; config.Validate reports such mistakes with
// their line first.
func New(models []config.Model, providers map[string]llm.Provider, prev *Table) (*Table, error) {
	t := &Table{routes: make(map[string]*Route, len(models)), health: map[string]*Health{}}
	for _, m := range models {
		if _, dup := t.routes[m.Name]; dup {
			return nil, fmt.Errorf("model %q is defined twice", m.Name)
		}
		r := &Route{
			Alias: m.Name, Fallbacks: m.Fallbacks, ContextWindow: m.ContextWindow,
			Balance: m.Balance, Policy: policyOf(m), Limits: m.Limits,
			Tenants: m.Tenants, Cache: m.Cache, Knowledge: knowledgeOf(m.Knowledge),
		}
		if r.Balance == "" {
			r.Balance = config.DefaultBalance
		}
		gp, err := guard.New(m.Guardrails)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", m.Name, err)
		}
		r.Guard = gp
		r.Tools = tools.New(m.Tools, m.ResponseFormat)
		bc, gc := breakerOf(m.Breaker), budgetOf(m.Retry.Budget)
		for _, ct := range m.Targets {
			p, ok := providers[ct.Provider]
			if !ok {
				return nil, fmt.Errorf("model %q: unknown provider %q", m.Name, ct.Provider)
			}
			w := ct.Weight
			if w <= 0 {
				w = 1
			}
			tg := &Target{Provider: ct.Provider, Model: ct.Model, Weight: w, Client: p, name: ct.Provider + "/" + ct.Model,
				Classes: slices.Clone(ct.Classes)}
			if c, ok := p.(llm.Continuer); ok {
				tg.ContinuesPrefix = c.ContinuesPrefix()
			}
			tg.Health = t.healthFor(tg.Name(), p, bc, gc, prev)
			r.Targets = append(r.Targets, tg)
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

func (t *Table) healthFor(name string, client llm.Provider, bc resilience.BreakerConfig, gc budgetConfig, prev *Table) *Health {
	if h, ok := t.health[name]; ok {
		return h
	}
	h := newHealth(client, bc, gc)
	if prev != nil {
		// A rebuilt provider (new key, URL…) is a new target: its old
		// breaker says nothing about it.
		if old, ok := prev.health[name]; ok && old.client == client && old.breakerCfg == bc && old.budgetCfg == gc {
			h = old
		}
	}
	t.health[name] = h
	return h
}

// Lookup returns the route of an alias.
func (t *Table) Lookup(alias string) (*Route, bool) {
	r, ok := t.routes[alias]
	return r, ok
}

// LookupFor returns the route of an alias if it serves the tenant: an
// alias restricted to other tenants is, to this one, not there.
func (t *Table) LookupFor(alias, tenantID string) (*Route, bool) {
	r, ok := t.routes[alias]
	if !ok || !r.Serves(tenantID) {
		return nil, false
	}
	return r, true
}

// Serves reports whether the route may be used by the tenant: its Tenants
// list is empty or names the tenant.
func (r *Route) Serves(tenantID string) bool {
	return len(r.Tenants) == 0 || slices.Contains(r.Tenants, tenantID)
}

// Aliases returns every alias, sorted.
func (t *Table) Aliases() []string { return t.names }

// TargetState is one target's breaker, cooldown and load, for the admin
// API.
type TargetState struct {
	Target  string                  `json:"target"`
	Breaker resilience.BreakerState `json:"breaker"`
	// CooldownLeft is what is left of the target's cooldown (Health).
	CooldownLeft time.Duration `json:"remaining_cooldown_ns,omitempty"`
	Outstanding  int64         `json:"outstanding"`
	P95          string        `json:"p95_latency"`
}

// States returns the state of every target, sorted by name.
func (t *Table) States() []TargetState {
	out := make([]TargetState, 0, len(t.health))
	for name, h := range t.health {
		out = append(out, TargetState{Target: name, Breaker: h.Breaker.State(), CooldownLeft: h.Cooldown.Left(),
			Outstanding: h.Load.Outstanding(), P95: h.Load.P95().String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// knowledgeOf is an alias's knowledge binding with its defaults, the zero
// value when it has none.
func knowledgeOf(k config.AliasKnowledge) config.AliasKnowledge {
	if !k.Enabled() {
		return config.AliasKnowledge{}
	}
	return k.Effective()
}
