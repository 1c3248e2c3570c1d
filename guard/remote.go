package guard

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/bulwark-ai/bulwark/config"
)

// FailMode is what a rule does when its check calls a service that
// fails: times out, errs, or answers what cannot be read.
type FailMode string

// The failure modes (config on_error).
const (
	// Open goes on as if the check passed; the Finding is Skipped.
	Open FailMode = config.GuardOpen
	// Closed refuses with an *UnavailableError.
	Closed FailMode = config.GuardClosed
)

// Verdict is what a service said about texts.
type Verdict struct {
	// Reason says why the texts break the check, "" when they do not. It
	// never quotes the texts.
	Reason string
	// Block is set when the service refused the texts rather than masked
	// them: a Mask rule then blocks.
	Block bool
	// Masked are the texts as the service masked them, one per text
	// checked; nil when it masked nothing.
	Masked []string
}

// Env is what checks that call a service need from the request they
// check.
type Env struct {
	// Chat sends msgs to the chat alias, as the request's tenant and
	// without guardrails of its own, and returns the text of its answer.
	Chat func(ctx context.Context, alias string, msgs []Text) (string, error)
}

// Caller is a check that calls a service. It is safe for concurrent use.
type Caller interface {
	// Name is the check's name in config, metrics and errors.
	Name() string
	// Call asks the service about ts, checked at stage st. An error is
	// the service's failure (its rule's OnError applies), never a
	// finding.
	Call(ctx context.Context, env Env, st Stage, ts []Text) (Verdict, error)
}

// UnavailableError is a check that calls a service which failed, of a
// rule that fails closed. Its message names the check and the stage,
// never the service's address or answer; Err, the cause, is for logs.
type UnavailableError struct {
	Stage    Stage
	Check    string
	TimedOut bool
	Err      error
}

func (e *UnavailableError) what() string {
	if e.TimedOut {
		return "the check timed out"
	}
	return "the check failed"
}

func (e *UnavailableError) Error() string {
	what := "request"
	if e.Stage == Output {
		what = "answer"
	}
	return fmt.Sprintf("the guardrail %q could not check the %s (%s) and fails closed; retry later", e.Check, what, e.what())
}

// Classifier is the classifier check: a chat alias (a Llama Guard 3, or
// a Prompt Guard behind a chat wrapper, served by vLLM or any provider)
// called through Bulwark with the texts as the conversation.
//
// The contract: Bulwark sends the texts as chat messages, user and
// assistant turns alternating, starting with a user turn (system, tool
// and developer texts go in as user turns; consecutive turns of one role
// are joined with a blank line; on output, the answer is an assistant
// turn after an empty user turn), with temperature 0. The answer's first
// line is "safe" or "unsafe" (any case, surrounding space ignored); after
// "unsafe", a second line may list categories separated by commas
// ("S1,S14"). Any other answer is an error, and the rule's on_error
// applies.
type Classifier struct {
	Model string
}

// Name implements Caller.
func (*Classifier) Name() string { return config.GuardClassifier }

// Call implements Caller.
func (c *Classifier) Call(ctx context.Context, env Env, st Stage, ts []Text) (Verdict, error) {
	if env.Chat == nil {
		return Verdict{}, errors.New("classifier: no gateway to call the alias through")
	}
	msgs := Conversation(st, ts)
	if len(msgs) == 0 {
		return Verdict{}, nil
	}
	ans, err := env.Chat(ctx, c.Model, msgs)
	if err != nil {
		return Verdict{}, fmt.Errorf("classifier %s: %w", c.Model, err)
	}
	return ParseVerdict(ans)
}

// Conversation is the turns the classifier is sent for ts checked at
// stage st (see Classifier).
func Conversation(st Stage, ts []Text) []Text {
	var out []Text
	add := func(role, s string) {
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content += "\n\n" + s
			return
		}
		out = append(out, Text{Role: role, Content: s})
	}
	if st == Output {
		add("user", "")
		for _, t := range ts {
			add("assistant", t.Content)
		}
		return out
	}
	for _, t := range ts {
		if t.Content == "" {
			continue
		}
		role := "user"
		if t.Role == "assistant" {
			role = "assistant"
		}
		if len(out) == 0 && role == "assistant" {
			add("user", "")
		}
		add(role, t.Content)
	}
	return out
}

// category is what a classifier's category looks like ("S1",
// "jailbreak"); anything else on its second line is dropped, so that a
// reason never carries text.
var category = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ParseVerdict reads a classifier's answer (see Classifier).
func ParseVerdict(ans string) (Verdict, error) {
	lines := strings.Split(strings.TrimSpace(ans), "\n")
	switch strings.ToLower(strings.TrimSpace(lines[0])) {
	case "safe":
		return Verdict{}, nil
	case "unsafe":
	default:
		return Verdict{}, errors.New("classifier: the answer is neither safe nor unsafe")
	}
	var cats []string
	if len(lines) > 1 {
		for _, c := range strings.Split(lines[1], ",") {
			if c = strings.TrimSpace(c); category.MatchString(c) && len(cats) < 16 {
				cats = append(cats, c)
			}
		}
	}
	if len(cats) == 0 {
		return Verdict{Reason: "the classifier found it unsafe"}, nil
	}
	return Verdict{Reason: "the classifier found it unsafe: " + strings.Join(cats, ", ")}, nil
}
