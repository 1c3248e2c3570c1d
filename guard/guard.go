package guard

import (
	"fmt"

	"github.com/bulwark-ai/bulwark/config"
)

// Action is what a rule does when its check finds something.
type Action string

// The actions.
const (
	Block Action = config.GuardBlock
	Mask  Action = config.GuardMask
	Log   Action = config.GuardLog
)

// Stage is where a chain runs.
type Stage string

// The stages.
const (
	Input  Stage = "input"
	Output Stage = "output"
)

// Text is one text checked: a message's content and its role.
type Text struct {
	Role    string
	Content string
}

// Check inspects texts.
type Check interface {
	// Name is the check's name in config, metrics and errors.
	Name() string
	// Scan returns why ts break the check, "" when they do not. The
	// reason never quotes the texts.
	Scan(ts []Text) string
}

// Masker is a Check that can mask what it finds.
type Masker interface {
	Check
	// Mask returns s with what the check finds in it masked.
	Mask(s string) string
}

// Rule is a check and its action.
type Rule struct {
	Check  Check
	Action Action
}

// Chain is the rules of one stage, run in order. The zero value checks
// nothing. It is safe for concurrent use.
type Chain struct {
	Stage Stage
	Rules []Rule
}

// Finding is what one rule found.
type Finding struct {
	Stage  Stage
	Check  string
	Action Action
	Reason string
}

// Error is a request or an answer a Block rule refused.
type Error struct {
	Stage  Stage
	Check  string
	Reason string
}

func (e *Error) Error() string {
	what := "request"
	if e.Stage == Output {
		what = "answer"
	}
	return fmt.Sprintf("the %s was blocked by the guardrail %q: %s", what, e.Check, e.Reason)
}

// Run applies the chain to ts. It returns the texts as the chain left
// them (ts itself when nothing was masked, else a new slice), what every
// rule found, and an *Error when a Block rule found something.
func (c *Chain) Run(ts []Text) ([]Text, []Finding, error) {
	if c == nil {
		return ts, nil, nil
	}
	var found []Finding
	for _, r := range c.Rules {
		reason := r.Check.Scan(ts)
		if reason == "" {
			continue
		}
		found = append(found, Finding{Stage: c.Stage, Check: r.Check.Name(), Action: r.Action, Reason: reason})
		switch r.Action {
		case Block:
			return ts, found, &Error{Stage: c.Stage, Check: r.Check.Name(), Reason: reason}
		case Mask:
			if m, ok := r.Check.(Masker); ok {
				masked := make([]Text, len(ts))
				for i, t := range ts {
					masked[i] = Text{Role: t.Role, Content: m.Mask(t.Content)}
				}
				ts = masked
			}
		}
	}
	return ts, found, nil
}

// Empty reports whether the chain has no rule.
func (c *Chain) Empty() bool { return c == nil || len(c.Rules) == 0 }

// Maskers returns the chain's Mask rules' checks, in order.
func (c *Chain) Maskers() []Masker {
	if c == nil {
		return nil
	}
	var ms []Masker
	for _, r := range c.Rules {
		if m, ok := r.Check.(Masker); ok && r.Action == Mask {
			ms = append(ms, m)
		}
	}
	return ms
}

// Policy is an alias's two chains.
type Policy struct {
	Input, Output *Chain
}

// New builds the chains of g, which config.Validate accepted; it fails on
// a check it does not know.
func New(g config.Guardrails) (*Policy, error) {
	if !g.Enabled() {
		return nil, nil
	}
	in, err := chain(Input, g.Input)
	if err != nil {
		return nil, err
	}
	out, err := chain(Output, g.Output)
	if err != nil {
		return nil, err
	}
	return &Policy{Input: in, Output: out}, nil
}

func chain(st Stage, gcs []config.GuardCheck) (*Chain, error) {
	if len(gcs) == 0 {
		return nil, nil
	}
	c := &Chain{Stage: st}
	for i, gc := range gcs {
		var ck Check
		switch gc.Check {
		case config.GuardPII:
			ck = PII{}
		case config.GuardDeniedTerms:
			ck = NewDeniedTerms(gc.Terms)
		case config.GuardInjection:
			ck = NewInjection(st, gc.Threshold)
		case config.GuardMaxChars:
			ck = MaxChars(gc.MaxChars)
		default:
			return nil, fmt.Errorf("guardrails %s[%d]: unknown check %q", st, i, gc.Check)
		}
		switch a := Action(gc.Action); a {
		case Block, Mask, Log:
			c.Rules = append(c.Rules, Rule{Check: ck, Action: a})
		default:
			return nil, fmt.Errorf("guardrails %s[%d]: unknown action %q", st, i, gc.Action)
		}
	}
	return c, nil
}
