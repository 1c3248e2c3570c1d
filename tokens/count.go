package tokens

import "github.com/bulwark-ai/bulwark/llm"

// MaxExactBytes is the most text, summed over a request, that is encoded
// to count it. Beyond it a request is bounded and estimated in one pass
// over its bytes (see the package doc, "Cost and bounds").
const MaxExactBytes = 256 << 10

// OpenAI's chat framing (see the package doc, "Chat framing").
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	replyPriming     = 3
)

// Count is what a request's prompt amounts to.
type Count struct {
	// Tokens is the prompt's tokens: OpenAI's count for an OpenAI model,
	// else an estimate; for a request over MaxExactBytes, an estimate of
	// four bytes per token (and never less than Min).
	Tokens int
	// Min is the fewest tokens the prompt can be: Tokens when it was
	// counted with the model's own encoding, a lower bound when it was
	// not (too large to count, or another model's tokens estimated: see
	// lowerBound). A context window check refuses only a prompt whose Min
	// does not fit.
	Min int
	// Largest is, for embeddings, the Min of the largest input: every
	// input must fit the model's window by itself.
	Largest int
	// Bounded means the request was too large to count (MaxExactBytes):
	// Min and Largest are lower bounds and Tokens an estimate.
	Bounded bool
}

// Chat counts a chat request's prompt: its messages as req.Messages holds
// them, plus the images, tools and tool calls of req.Body (see the
// package doc).
func (c *Counter) Chat(req *llm.ChatRequest) Count {
	size := 0
	for i := range req.Messages {
		m := &req.Messages[i]
		size += len(m.Role) + len(m.Content) + len(m.Name) + len(m.ToolCallID)
	}
	framing := replyPriming + tokensPerMessage*len(req.Messages)
	x := c.extras(req.Body, size > MaxExactBytes)
	if size > MaxExactBytes {
		lb := framing + x
		for i := range req.Messages {
			m := &req.Messages[i]
			lb += lowerBound(m.Content) + lowerBound(m.Name) + lowerBound(m.ToolCallID)
		}
		return Count{Tokens: max(framing+x+estimate(size), lb), Min: lb, Bounded: true}
	}
	n, lb := framing+x, framing+x
	for i := range req.Messages {
		m := &req.Messages[i]
		n += c.role(m.Role) + c.Text(m.Content) + c.Text(m.ToolCallID)
		if m.Name != "" {
			n += tokensPerName + c.Text(m.Name)
		}
		if !c.exact {
			lb += c.role(m.Role) + lowerBound(m.Content) + lowerBound(m.Name) + lowerBound(m.ToolCallID)
		}
	}
	if c.exact {
		lb = n
	}
	// An estimate may count more tokens than the model's own tokenizer
	// (one with a larger vocabulary): only the bound is sure.
	return Count{Tokens: n, Min: min(lb, n)}
}

// role returns the tokens of a message's role: one for every role OpenAI
// accepts, in both encodings.
func (c *Counter) role(r string) int {
	switch r {
	case "system", "developer", "user", "assistant", "tool", "function":
		return 1
	}
	return c.Text(r)
}

// Embed counts an embeddings request's inputs. Token-id inputs arrive as
// their ids joined by spaces, which count about one token per id.
func (c *Counter) Embed(req *llm.EmbedRequest) Count {
	size := 0
	for _, s := range req.Input {
		size += len(s)
	}
	out := Count{Bounded: size > MaxExactBytes}
	for _, s := range req.Input {
		var n, lb int
		if size > MaxExactBytes {
			lb = lowerBound(s)
			n = max(estimate(len(s)), lb)
		} else {
			n = c.Text(s)
			lb = n
			if !c.exact {
				lb = min(lowerBound(s), n)
			}
		}
		out.Tokens += n
		out.Min += lb
		out.Largest = max(out.Largest, lb)
	}
	return out
}
