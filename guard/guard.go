package guard

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Rule is a check and its action. A rule has either a local Check or a
// Caller, a check that calls a service, with its failure mode and
// timeout.
type Rule struct {
	Check  Check
	Call   Caller
	Action Action
	// OnError is what a Caller's failure does (config on_error).
	OnError FailMode
	// Timeout bounds one call of the Caller, inside the context's own
	// deadline; 0 means config.DefaultGuardTimeout.
	Timeout time.Duration
}

// Name is the name of the rule's check.
func (r Rule) Name() string {
	if r.Call != nil {
		return r.Call.Name()
	}
	return r.Check.Name()
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
	// Skipped is set when the rule's check calls a service that failed
	// and the rule fails open: the texts went on unchecked by it, and
	// Reason says why (never the service's address or answer).
	Skipped bool
	// Replaced is set when a Mask rule's service returned the texts
	// masked: Run's texts carry them, whole.
	Replaced bool
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
// rule found, and an *Error when a Block rule found something, an
// *UnavailableError when a check that calls a service failed and its
// rule fails closed, or ctx's error when ctx ended during such a call.
// env is what checks that call a service need (Env.Chat).
func (c *Chain) Run(ctx context.Context, env Env, ts []Text) ([]Text, []Finding, error) {
	if c == nil {
		return ts, nil, nil
	}
	var found []Finding
	for _, r := range c.Rules {
		if r.Call != nil {
			v, timedOut, err := r.call(ctx, env, c.Stage, ts)
			if err != nil {
				if ctx.Err() != nil {
					return ts, found, ctx.Err() // the request itself ended
				}
				ue := &UnavailableError{Stage: c.Stage, Check: r.Name(), TimedOut: timedOut || errors.Is(err, context.DeadlineExceeded), Err: err}
				if r.OnError != Open {
					return ts, found, ue
				}
				found = append(found, Finding{Stage: c.Stage, Check: r.Name(), Action: r.Action, Reason: ue.what(), Skipped: true})
				continue
			}
			if v.Reason == "" {
				continue
			}
			f := Finding{Stage: c.Stage, Check: r.Name(), Action: r.Action, Reason: v.Reason}
			if r.Action == Mask && v.Block {
				// The service blocked rather than masked: a mask
				// rule cannot let it through.
				f.Action = Block
			}
			if f.Action == Mask {
				if len(v.Masked) != len(ts) {
					f.Action = Block // nothing to mask with: never let it through
				} else {
					masked := make([]Text, len(ts))
					for i, t := range ts {
						masked[i] = Text{Role: t.Role, Content: v.Masked[i]}
					}
					ts, f.Replaced = masked, true
				}
			}
			found = append(found, f)
			if f.Action == Block {
				return ts, found, &Error{Stage: c.Stage, Check: r.Name(), Reason: v.Reason}
			}
			continue
		}
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

// call calls r's service on ts within r's timeout, and says whether the
// timeout ran out.
func (r Rule) call(ctx context.Context, env Env, st Stage, ts []Text) (Verdict, bool, error) {
	d := r.Timeout
	if d <= 0 {
		d = config.DefaultGuardTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := r.Call.Call(cctx, env, st, ts)
	return v, errors.Is(cctx.Err(), context.DeadlineExceeded), err
}

// Remote returns the names of the chain's checks that call a
// service.
func (c *Chain) Remote() []string {
	if c == nil {
		return nil
	}
	var names []string
	for _, r := range c.Rules {
		if r.Call != nil {
			names = append(names, r.Name())
		}
	}
	return names
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

// Policy is an alias's two chains, and the chains of the tenants that
// have their own.
type Policy struct {
	Input, Output *Chain
	// Tenants are the policies of the tenants that have their own chains
	// (config guardrails.tenants), which replace the alias's.
	Tenants map[string]*Policy
}

// For returns the policy of tenant: its own, else p. It is nil when p is.
func (p *Policy) For(tenant string) *Policy {
	if p == nil {
		return nil
	}
	if tp, ok := p.Tenants[tenant]; ok {
		return tp
	}
	return p
}

// New builds the chains of g, which config.Validate accepted; it fails on
// a check it does not know, or a bedrock check whose client cannot be
// made.
func New(g config.Guardrails) (*Policy, error) {
	if !g.Enabled() {
		return nil, nil
	}
	p, err := buildPolicy(g.Input, g.Output, "")
	if err != nil {
		return nil, err
	}
	for id, tc := range g.Tenants {
		tp, err := buildPolicy(tc.Input, tc.Output, "tenants."+id+".")
		if err != nil {
			return nil, err
		}
		if p.Tenants == nil {
			p.Tenants = map[string]*Policy{}
		}
		p.Tenants[id] = tp
	}
	return p, nil
}

func buildPolicy(in, out []config.GuardCheck, prefix string) (*Policy, error) {
	ic, err := chain(Input, in, prefix)
	if err != nil {
		return nil, err
	}
	oc, err := chain(Output, out, prefix)
	if err != nil {
		return nil, err
	}
	return &Policy{Input: ic, Output: oc}, nil
}

func chain(st Stage, gcs []config.GuardCheck, prefix string) (*Chain, error) {
	if len(gcs) == 0 {
		return nil, nil
	}
	c := &Chain{Stage: st}
	for i, gc := range gcs {
		var rule Rule
		switch gc.Check {
		case config.GuardPII:
			rule.Check = PII{}
		case config.GuardDeniedTerms:
			rule.Check = NewDeniedTerms(gc.Terms)
		case config.GuardInjection:
			rule.Check = NewInjection(st, gc.Threshold)
		case config.GuardMaxChars:
			rule.Check = MaxChars(gc.MaxChars)
		case config.GuardClassifier:
			rule.Call = &Classifier{Model: gc.Model}
		case config.GuardBedrock:
			b, err := NewBedrock(BedrockOptions{GuardrailID: gc.GuardrailID, GuardrailVersion: gc.GuardrailVersion, Region: gc.Region, Endpoint: gc.Endpoint})
			if err != nil {
				return nil, fmt.Errorf("guardrails %s%s[%d]: %w", prefix, st, i, err)
			}
			rule.Call = b
		default:
			return nil, fmt.Errorf("guardrails %s%s[%d]: unknown check %q", prefix, st, i, gc.Check)
		}
		if rule.Call != nil {
			switch m := FailMode(gc.OnError); m {
			case Open, Closed:
				rule.OnError, rule.Timeout = m, gc.Timeout.D()
			default:
				return nil, fmt.Errorf("guardrails %s%s[%d]: %s needs on_error open or closed", prefix, st, i, gc.Check)
			}
		}
		switch a := Action(gc.Action); a {
		case Block, Mask, Log:
			rule.Action = a
			c.Rules = append(c.Rules, rule)
		default:
			return nil, fmt.Errorf("guardrails %s%s[%d]: unknown action %q", prefix, st, i, gc.Action)
		}
	}
	return c, nil
}
