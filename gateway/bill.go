package gateway

import (
	"sync"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tokens"
	"github.com/bulwark-ai/bulwark/usage"
)

// bill is what a stream's upstream calls are billed for, by the billing
// rule (usage/doc.go): each call the usage it reported, or, for a call
// that broke without reporting any, the tokens Bulwark counts of it: its
// prompt, and the text the client received from it. A stream has one call,
// and one more per continuation (continue.go). It is used by the relay's
// goroutine.
type bill struct {
	// calls are the stream's calls that ended, in order.
	calls []callUsage
	// The call under way: its target and request (nil once it ended), the
	// text the client received from it (in buf, from sentBufs; nil until
	// the first content), and the usage it reported, if it did.
	t           *route.Target
	req         *llm.ChatRequest
	buf         *[]byte
	reported    llm.Usage
	hasReported bool
}

// callUsage is the usage of one upstream call of a stream.
type callUsage struct {
	target string
	usage  llm.Usage
	// counted: the call broke without reporting usage; usage is what
	// Bulwark counted.
	counted bool
}

// start notes the call a stream goes on with: request req on target t.
func (b *bill) start(t *route.Target, req *llm.ChatRequest) {
	b.t, b.req, b.reported, b.hasReported = t, req, llm.Usage{}, false
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
	}
}

// note notes a chunk of the call under way, as the upstream sent it,
// before it goes to the client.
func (b *bill) note(c *llm.Chunk) {
	if b.req == nil {
		return
	}
	if c.Usage != nil {
		b.reported, b.hasReported = *c.Usage, true
	}
	if c.HasContent {
		if b.buf == nil {
			b.buf = sentBufs.Get().(*[]byte)
		}
		*b.buf = llm.AppendChunkText(*b.buf, c.Data)
	}
}

// end ends the call under way, if any: broken when it did not end
// properly. A call that reported usage is billed for it; one that broke
// without reporting any is billed for the tokens counted of its prompt
// (in its target's encoding) and of the text the client received from it;
// one that ended properly without reporting any, for nothing.
func (b *bill) end(broken bool) {
	if b.req == nil {
		return
	}
	c := callUsage{target: b.t.Name()}
	switch {
	case b.hasReported:
		c.usage = b.reported
	case broken:
		var sent []byte
		if b.buf != nil {
			sent = *b.buf
		}
		n := tokens.For(b.t.Model)
		in, out := n.Chat(b.req).Tokens, n.Text(string(sent))
		c.usage = llm.Usage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
		c.counted = true
	}
	b.calls = append(b.calls, c)
	b.t, b.req = nil, nil
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
	}
}

// sum is the usage of the calls that ended.
func (b *bill) sum() llm.Usage { return sumUsage(b.calls) }

func sumUsage(calls []callUsage) llm.Usage {
	var u llm.Usage
	for _, p := range calls {
		u.PromptTokens += p.usage.PromptTokens
		u.CompletionTokens += p.usage.CompletionTokens
		u.TotalTokens += p.usage.TotalTokens
		u.CachedTokens += p.usage.CachedTokens
		u.CacheWriteTokens += p.usage.CacheWriteTokens
	}
	return u
}

// counted reports whether the usage of any of calls was counted.
func counted(calls []callUsage) bool {
	for _, c := range calls {
		if c.counted {
			return true
		}
	}
	return false
}

// cost prices calls, each at its target's price.
func costOf(p *usage.Prices, calls []callUsage) usage.Nanodollars {
	var sum usage.Nanodollars
	for _, c := range calls {
		cost, _ := p.Cost(c.target, c.usage)
		sum += cost
	}
	return sum
}

// sentBufs are the buffers of the text streams' calls sent, reused so
// that relaying a chunk allocates nothing (the text grows a buffer only
// when it outgrows every one used before).
var sentBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// release returns the bill's text buffer; the bill notes no more chunks.
func (b *bill) release() {
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
		sentBufs.Put(b.buf)
		b.buf = nil
	}
	b.req = nil
}
