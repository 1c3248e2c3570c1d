package config

// Guardrails are an alias's checks on what clients send it (Input) and
// what it answers (Output), run in the order listed, once per client
// request. Each check has an action: block refuses the request (400
// guardrail_blocked naming the check and why, never the offending text),
// mask rewrites what it found and goes on, log only counts and notes it.
// The zero value checks nothing.
type Guardrails struct {
	Input  []GuardCheck `yaml:"input" json:"input,omitempty"`
	Output []GuardCheck `yaml:"output" json:"output,omitempty"`
}

// GuardCheck is one check of a guardrail chain with its parameters; the
// parameters of another check are errors.
type GuardCheck struct {
	// Check is what is checked: pii, denied_terms, injection or
	// max_chars.
	Check string `yaml:"check" json:"check"`
	// Action is block, mask or log; mask only for pii and denied_terms.
	Action string `yaml:"action" json:"action"`
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
)

// The actions of a guardrail check (GuardCheck.Action).
const (
	GuardBlock = "block"
	GuardMask  = "mask"
	GuardLog   = "log"
)

// DefaultInjectionThreshold is injection's threshold when none is set.
const DefaultInjectionThreshold = 0.5

// Enabled reports whether g checks anything.
func (g Guardrails) Enabled() bool { return len(g.Input)+len(g.Output) > 0 }

// guardrails checks every alias's guardrail chains.
func (v *validator) guardrails(c *Config) {
	for i, m := range c.Models {
		path := childIndex("models", i) + ".guardrails"
		for j, gc := range m.Guardrails.Input {
			v.guardCheck(childIndex(path+".input", j), gc)
		}
		for j, gc := range m.Guardrails.Output {
			v.guardCheck(childIndex(path+".output", j), gc)
		}
	}
}

func (v *validator) guardCheck(path string, gc GuardCheck) {
	switch gc.Check {
	case GuardPII, GuardDeniedTerms, GuardInjection, GuardMaxChars:
	case "":
		v.add(path+".check", "is required (pii, denied_terms, injection or max_chars)")
	default:
		v.add(path+".check", "unknown check %q (pii, denied_terms, injection or max_chars)", gc.Check)
	}
	switch gc.Action {
	case GuardBlock, GuardLog:
	case GuardMask:
		if gc.Check == GuardInjection || gc.Check == GuardMaxChars {
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
}
