package guard

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
)

func TestParseVerdict(t *testing.T) {
	for _, c := range []struct {
		ans, reason string
		bad         bool
	}{
		{ans: "safe"},
		{ans: "  Safe\n"},
		{ans: "\n\nunsafe\nS1,S14", reason: "the classifier found it unsafe: S1, S14"},
		{ans: "UNSAFE\n S10 , S2 ", reason: "the classifier found it unsafe: S10, S2"},
		{ans: "unsafe", reason: "the classifier found it unsafe"},
		// A category that is not one (a sentence) is dropped, never quoted.
		{ans: "unsafe\nthe user asked about ann@example.com", reason: "the classifier found it unsafe"},
		{ans: "I am not sure", bad: true},
		{ans: "", bad: true},
		{ans: "safety first", bad: true},
	} {
		v, err := ParseVerdict(c.ans)
		if (err != nil) != c.bad || v.Reason != c.reason {
			t.Errorf("ParseVerdict(%q) = %+v, %v", c.ans, v, err)
		}
	}
}

func TestConversationAlternates(t *testing.T) {
	in := []Text{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"},
		{Role: "tool", Content: "42"}, {Role: "user", Content: "And?"}}
	want := []Text{{Role: "user", Content: "Be brief.\n\nHi"}, {Role: "assistant", Content: "Hello"}, {Role: "user", Content: "42\n\nAnd?"}}
	if got := Conversation(Input, in); !reflect.DeepEqual(got, want) {
		t.Errorf("input: %+v", got)
	}
	if got := Conversation(Input, []Text{{Role: "assistant", Content: "x"}}); len(got) != 2 || got[0].Role != "user" {
		t.Errorf("input starting with the assistant: %+v", got)
	}
	out := Conversation(Output, []Text{{Role: "assistant", Content: "a"}, {Role: "assistant", Content: "b"}})
	if !reflect.DeepEqual(out, []Text{{Role: "user"}, {Role: "assistant", Content: "a\n\nb"}}) {
		t.Errorf("output: %+v", out)
	}
}

// failing is a service that always fails, or takes for ever.
type failing struct{ slow bool }

func (failing) Name() string { return "classifier" }
func (f failing) Call(ctx context.Context, _ Env, _ Stage, _ []Text) (Verdict, error) {
	if f.slow {
		<-ctx.Done()
		return Verdict{}, ctx.Err()
	}
	return Verdict{}, errors.New("down")
}

// TestRemoteFailureModes: open goes on with a Skipped finding, closed
// refuses; the request's own end is its own error.
func TestRemoteFailureModes(t *testing.T) {
	ts := []Text{{Role: "user", Content: "hi"}}
	open := &Chain{Stage: Input, Rules: []Rule{{Call: failing{}, Action: Block, OnError: Open}, {Check: MaxChars(1), Action: Log}}}
	_, found, err := open.Run(t.Context(), Env{}, ts)
	if err != nil || len(found) != 2 || !found[0].Skipped || found[0].Reason != "the check failed" || found[1].Check != "max_chars" {
		t.Errorf("open: %+v, %v", found, err)
	}
	closed := &Chain{Stage: Output, Rules: []Rule{{Call: failing{slow: true}, Action: Block, OnError: Closed, Timeout: 1}}}
	_, _, err = closed.Run(t.Context(), Env{}, ts)
	var ue *UnavailableError
	if !errors.As(err, &ue) || !ue.TimedOut || ue.Stage != Output ||
		err.Error() != `the guardrail "classifier" could not check the answer (the check timed out) and fails closed; retry later` {
		t.Errorf("closed: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := open.Run(ctx, Env{}, ts); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled request: %v", err)
	}
}

func TestPolicyForTenant(t *testing.T) {
	p, err := New(config.Guardrails{
		Input:   []config.GuardCheck{{Check: "pii", Action: "mask"}},
		Tenants: map[string]config.GuardChains{"acme": {Output: []config.GuardCheck{{Check: "max_chars", Action: "block", MaxChars: 9}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.For("other") != p || p.For("acme").Input != nil || p.For("acme").Output.Rules[0].Name() != "max_chars" {
		t.Errorf("For: %+v", p.For("acme"))
	}
	var none *Policy
	if none.For("acme") != nil {
		t.Error("a nil policy has a tenant's")
	}
	// Tenants only: the alias checks nothing, the tenant does.
	p, _ = New(config.Guardrails{Tenants: map[string]config.GuardChains{"acme": {Input: []config.GuardCheck{{Check: "pii", Action: "log"}}}}})
	if !p.Input.Empty() || p.For("acme").Input.Empty() {
		t.Errorf("tenants only: %+v", p)
	}
}
