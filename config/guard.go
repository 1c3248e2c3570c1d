package config

import (
	"net/url"
	"slices"
	"time"
)

// Guardrails are an alias's checks on what clients send it (Input) and
// what it answers (Output), run in the order listed, once per client
// request. Each check has an action: block refuses the request (400
// guardrail_blocked naming the check and why, never the offending text),
// mask rewrites what it found and goes on, log only counts and notes it.
// The zero value checks nothing.
type Guardrails struct {
	Input  []GuardCheck `yaml:"input" json:"input,omitempty"`
	Output []GuardCheck `yaml:"output" json:"output,omitempty"`
	// Tenants are chains for one tenant each, by tenant id: a tenant
	// listed here gets its own input and output chains instead of the
	// alias's (they replace them, they do not add to them; an empty list
	// checks nothing for that tenant).
	Tenants map[string]GuardChains `yaml:"tenants" json:"tenants,omitempty"`
}

// GuardChains are one tenant's input and output chains.
type GuardChains struct {
	Input  []GuardCheck `yaml:"input" json:"input,omitempty"`
	Output []GuardCheck `yaml:"output" json:"output,omitempty"`
}

// GuardCheck is one check of a guardrail chain with its parameters; the
// parameters of another check are errors.
type GuardCheck struct {
	// Check is what is checked: pii, denied_terms, injection,
	// max_chars (local), classifier or bedrock (calls a service).
	Check string `yaml:"check" json:"check"`
	// Action is block, mask or log; mask only for pii, denied_terms and
	// bedrock.
	Action string `yaml:"action" json:"action"`
	// OnError is what a check that calls a service (classifier, bedrock)
	// does when the service fails, times out or answers what cannot be
	// read: open serves the request as if the check passed (counted in
	// bulwark_guardrail_errors_total and named in the
	// X-Bulwark-Guardrail-Skipped header), closed refuses it (503
	// guardrail_unavailable). It has no default: such a check must say
	// which; a local check must not.
	OnError string `yaml:"on_error" json:"on_error,omitempty"`
	// Timeout bounds one call of a check that calls a service, inside the
	// request's own deadline (0: DefaultGuardTimeout).
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Model is classifier's chat alias, called through Bulwark as the
	// request's tenant (e.g. a Llama Guard 3 served by vLLM).
	Model string `yaml:"model" json:"model,omitempty"`
	// GuardrailID, GuardrailVersion, Region and Endpoint are bedrock's
	// guardrail (its id or ARN), version ("1", "DRAFT"), AWS region and
	// an optional service URL override (a VPC endpoint, a proxy).
	GuardrailID      string `yaml:"guardrail_id" json:"guardrail_id,omitempty"`
	GuardrailVersion string `yaml:"guardrail_version" json:"guardrail_version,omitempty"`
	Region           string `yaml:"region" json:"region,omitempty"`
	Endpoint         string `yaml:"endpoint" json:"endpoint,omitempty"`
	// MaxChars is max_chars's bound on the characters of all the
	// messages (input) or of the answer (output).
	MaxChars int `yaml:"max_chars" json:"max_chars,omitempty"`
	// Terms are denied_terms's words and phrases, matched whole and in
	// any case.
	Terms []string `yaml:"terms" json:"terms,omitempty"`
	// Threshold is injection's score from which a text is taken for a
	// prompt injection, above 0 and at most 1 (0: 0.5).
	Threshold float64 `yaml:"threshold" json:"threshold,omitempty"`
}

// The checks of a guardrail chain (GuardCheck.Check).
const (
	GuardPII         = "pii"
	GuardDeniedTerms = "denied_terms"
	GuardInjection   = "injection"
	GuardMaxChars    = "max_chars"
	GuardClassifier  = "classifier"
	GuardBedrock     = "bedrock"
)

// The failure modes of a check that calls a service (GuardCheck.OnError).
const (
	GuardOpen   = "open"
	GuardClosed = "closed"
)

// DefaultGuardTimeout bounds a call of a check that calls a service when
// its rule sets no timeout.
const DefaultGuardTimeout = 2 * time.Second

// Remote reports whether gc's check calls a service.
func (gc GuardCheck) Remote() bool {
	return gc.Check == GuardClassifier || gc.Check == GuardBedrock
}

// The actions of a guardrail check (GuardCheck.Action).
const (
	GuardBlock = "block"
	GuardMask  = "mask"
	GuardLog   = "log"
)

// DefaultInjectionThreshold is injection's threshold when none is set.
const DefaultInjectionThreshold = 0.5

// Enabled reports whether g checks anything.
func (g Guardrails) Enabled() bool { return len(g.Input)+len(g.Output)+len(g.Tenants) > 0 }

// guardrails checks every alias's guardrail chains.
func (v *validator) guardrails(c *Config) {
	for i, m := range c.Models {
		path := childIndex("models", i) + ".guardrails"
		v.guardChains(c, m, path, m.Guardrails.Input, m.Guardrails.Output)
		ids := make([]string, 0, len(m.Guardrails.Tenants))
		for id := range m.Guardrails.Tenants {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			tpath := path + ".tenants." + id
			if !tenantID.MatchString(id) {
				v.add(tpath, "tenant ID %q must be 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or digit", id)
			}
			tc := m.Guardrails.Tenants[id]
			v.guardChains(c, m, tpath, tc.Input, tc.Output)
		}
	}
}

// guardChains checks one input and one output chain of the alias m.
func (v *validator) guardChains(c *Config, m Model, path string, in, out []GuardCheck) {
	for j, gc := range in {
		v.guardCheck(c, m, childIndex(path+".input", j), gc)
	}
	for j, gc := range out {
		v.guardCheck(c, m, childIndex(path+".output", j), gc)
	}
}

func (v *validator) guardCheck(c *Config, m Model, path string, gc GuardCheck) {
	const checks = "pii, denied_terms, injection, max_chars, classifier or bedrock"
	switch gc.Check {
	case GuardPII, GuardDeniedTerms, GuardInjection, GuardMaxChars, GuardClassifier, GuardBedrock:
	case "":
		v.add(path+".check", "is required (%s)", checks)
	default:
		v.add(path+".check", "unknown check %q (%s)", gc.Check, checks)
	}
	switch gc.Action {
	case GuardBlock, GuardLog:
	case GuardMask:
		if gc.Check == GuardInjection || gc.Check == GuardMaxChars || gc.Check == GuardClassifier {
			v.add(path+".action", "%s cannot mask (block or log)", gc.Check)
		}
	case "":
		v.add(path+".action", "is required (block, mask or log)")
	default:
		v.add(path+".action", "unknown action %q (block, mask or log)", gc.Action)
	}
	if gc.Check == GuardMaxChars {
		if gc.MaxChars <= 0 {
			v.add(path+".max_chars", "must be at least 1")
		}
	} else if gc.MaxChars != 0 {
		v.add(path+".max_chars", "is only for the max_chars check")
	}
	if gc.Check == GuardDeniedTerms {
		if len(gc.Terms) == 0 {
			v.add(path+".terms", "is required for the denied_terms check")
		}
		for k, t := range gc.Terms {
			if len(t) == 0 || len(t) > 200 {
				v.add(childIndex(path+".terms", k), "must be 1 to 200 characters")
			}
		}
	} else if len(gc.Terms) != 0 {
		v.add(path+".terms", "is only for the denied_terms check")
	}
	if gc.Check == GuardInjection {
		if gc.Threshold < 0 || gc.Threshold > 1 {
			v.add(path+".threshold", "must be above 0 and at most 1 (0: %g)", DefaultInjectionThreshold)
		}
	} else if gc.Threshold != 0 {
		v.add(path+".threshold", "is only for the injection check")
	}
	v.guardRemote(c, m, path, gc)
}

// guardRemote checks the parameters of the checks that call a service.
func (v *validator) guardRemote(c *Config, m Model, path string, gc GuardCheck) {
	if !gc.Remote() {
		if gc.OnError != "" {
			v.add(path+".on_error", "is only for the checks that call a service (classifier, bedrock): %s cannot fail", gc.Check)
		}
		if gc.Timeout != 0 {
			v.add(path+".timeout", "is only for the checks that call a service (classifier, bedrock)")
		}
	} else {
		switch gc.OnError {
		case GuardOpen, GuardClosed:
		case "":
			v.add(path+".on_error", "is required for %s, which calls a service: open (serve as if it passed, counted and flagged) or closed (refuse with 503)", gc.Check)
		default:
			v.add(path+".on_error", "unknown failure mode %q (open or closed)", gc.OnError)
		}
	}
	if gc.Check == GuardClassifier {
		switch {
		case gc.Model == "":
			v.add(path+".model", "is required for the classifier check (the chat alias that classifies)")
		case gc.Model == m.Name:
			v.add(path+".model", "must be another alias than %q itself", m.Name)
		case !slices.ContainsFunc(c.Models, func(o Model) bool { return o.Name == gc.Model }):
			v.add(path+".model", "unknown alias %q", gc.Model)
		}
	} else if gc.Model != "" {
		v.add(path+".model", "is only for the classifier check")
	}
	if gc.Check == GuardBedrock {
		if gc.GuardrailID == "" {
			v.add(path+".guardrail_id", "is required for the bedrock check")
		}
		if gc.GuardrailVersion == "" {
			v.add(path+".guardrail_version", "is required for the bedrock check (a number, or DRAFT)")
		}
		if gc.Region == "" && gc.Endpoint == "" {
			v.add(path+".region", "is required for the bedrock check (unless endpoint is set)")
		}
		if gc.Endpoint != "" {
			if u, err := url.Parse(gc.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(path+".endpoint", "must be an http or https URL")
			}
		}
	} else {
		for _, f := range []struct {
			name string
			set  bool
		}{{"guardrail_id", gc.GuardrailID != ""}, {"guardrail_version", gc.GuardrailVersion != ""}, {"region", gc.Region != ""}, {"endpoint", gc.Endpoint != ""}} {
			if f.set {
				v.add(path+"."+f.name, "is only for the bedrock check")
			}
		}
	}
}
