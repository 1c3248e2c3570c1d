package gateway

import (
	"fmt"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tokens"
)

// ContextError is a prompt that fits the context window of no target that
// could answer it: it is refused before any upstream call, with nothing
// reserved. It unwraps to an *llm.Error of KindContextLength, so it is
// recorded as a context-length failure.
type ContextError struct {
	Alias string
	// Window is the largest context window among the targets, in tokens.
	Window int
	// Prompt is the prompt's tokens in that target's encoding (for
	// embeddings, the largest input's); AtLeast means it is a lower bound,
	// the prompt being too large to count (tokens.MaxExactBytes).
	Prompt  int
	AtLeast bool
	// Completion is the max_tokens (or max_completion_tokens) the client
	// set, zero if none.
	Completion int
	// Param is the request parameter at fault: "messages" or "input".
	Param string
}

func (e *ContextError) Error() string {
	prompt := fmt.Sprint(e.Prompt)
	if e.AtLeast {
		prompt = "at least " + prompt
	}
	switch {
	case e.Param == "input":
		return fmt.Sprintf("This model's maximum context length is %d tokens, however you requested %s tokens in one input. Please reduce the length of the input.",
			e.Window, prompt)
	case e.Completion > 0:
		total := fmt.Sprint(e.Prompt + e.Completion)
		if e.AtLeast {
			total = "at least " + total
		}
		return fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %s tokens (%s in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			e.Window, total, prompt, e.Completion)
	}
	return fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %s tokens. Please reduce the length of the messages.",
		e.Window, prompt)
}

// Unwrap returns the context-length *llm.Error e amounts to.
func (e *ContextError) Unwrap() error {
	return &llm.Error{Kind: llm.KindContextLength, Status: 400, Code: llm.KindContextLength.String(), Param: e.Param,
		Provider: "bulwark", Model: e.Alias, Message: e.Error()}
}

// window returns the context window of target t of route r: the alias's
// context_window when it sets one, else the built-in window of the
// target's model (tokens.Window), zero when unknown.
func window(r *route.Route, t *route.Target) int {
	if r.ContextWindow > 0 {
		return r.ContextWindow
	}
	return tokens.Window(t.Model)
}

// prompt counts one request's prompt, once per encoding its targets use.
type prompt struct {
	count func(*tokens.Counter) tokens.Count
	done  [3]struct {
		c *tokens.Counter
		n tokens.Count
	}
	k int
}

func (p *prompt) of(t *route.Target) tokens.Count {
	c := tokens.For(t.Model)
	for _, d := range p.done[:p.k] {
		if d.c == c {
			return d.n
		}
	}
	n := p.count(c)
	if p.k < len(p.done) {
		p.done[p.k].c, p.done[p.k].n = c, n
		p.k++
	}
	return n
}

// fits checks the prompt against the windows of route r's targets and,
// when it fits none, of the routes its context-length fallbacks lead to
// (the only aliases the attempt loop tries after a context-length
// failure). A target whose window is unknown may take any prompt. It
// returns the prompt's count for the reservation: the largest of the
// counts made in the encodings of r's targets. need is the tokens one
// target must take, from the prompt's lower bound (Count.Min for a chat,
// Count.Largest for embeddings).
func fits(tbl *route.Table, r *route.Route, p *prompt, completion int, need func(tokens.Count) int, param string) (int, error) {
	counted := 0
	for _, t := range r.Targets {
		counted = max(counted, p.of(t).Tokens)
	}
	var refusal *ContextError
	var seen map[string]bool // the aliases queued, once there are fallbacks
	for queue := []*route.Route{r}; len(queue) > 0; queue = queue[1:] {
		cur := queue[0]
		for _, t := range cur.Targets {
			w := window(cur, t)
			n := p.of(t)
			if w <= 0 || need(n)+completion <= w {
				return counted, nil
			}
			if refusal == nil || w > refusal.Window {
				refusal = &ContextError{Alias: r.Alias, Window: w, Prompt: need(n), AtLeast: n.Bounded || n.Min < n.Tokens,
					Completion: completion, Param: param}
			}
		}
		for _, a := range cur.Policy.FallbackOnContextLength {
			if seen == nil {
				seen = map[string]bool{r.Alias: true}
			}
			if fr, ok := tbl.Lookup(a); ok && !seen[a] {
				seen[a] = true
				queue = append(queue, fr)
			}
		}
	}
	return counted, refusal
}

// fitChat counts a chat request's prompt and refuses it with a
// *ContextError when the prompt and its max_tokens fit no target's
// context window (see fits). It returns the prompt's tokens.
func fitChat(tbl *route.Table, r *route.Route, req *llm.ChatRequest) (int, error) {
	p := &prompt{count: func(c *tokens.Counter) tokens.Count { return c.Chat(req) }}
	return fits(tbl, r, p, req.MaxTokens, func(n tokens.Count) int { return n.Min }, "messages")
}

// fitEmbed counts an embeddings request's inputs and refuses it with a
// *ContextError when one input alone fits no target's window. It returns
// the inputs' tokens.
func fitEmbed(tbl *route.Table, r *route.Route, req *llm.EmbedRequest) (int, error) {
	p := &prompt{count: func(c *tokens.Counter) tokens.Count { return c.Embed(req) }}
	return fits(tbl, r, p, 0, func(n tokens.Count) int { return n.Largest }, "input")
}
