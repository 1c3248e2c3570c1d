package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// call is one request on its way through a model: what it drew, what it
// will answer, and the capacity slot it holds. It is built by chatCall or
// embedCall, admitted by admit, answered by one transport (in-process or
// HTTP) and given back by release. Only release may be called from another
// goroutine than the one serving the call.
type call struct {
	s       *Sim
	m       *model
	seq     uint64 // the model's draw for this request
	pcg     rand.PCG
	rng     *rand.Rand // the request's own generator
	fault   fault
	ttft    time.Duration
	created int64

	prompt  int // prompt tokens
	charge  int // tokens charged against TPM
	choices []choice
	one     [1]choice
	maxLen  int // the longest choice, in tokens
	total   int // completion tokens of all choices
	faultAt int // tokens sent before a mid-stream fault, -1 for none
	// skip is the tokens of a continued answer that its prefill already
	// holds (ChatRequest.Continue): the stream starts after them.
	skip int
	// script is the scripted reply of a request for one choice
	// (script.go); nil for generated words.
	script *script

	faultRetryAfter time.Duration
	rate            rateInfo
	slot            atomic.Bool // holds a capacity slot
	inService       atomic.Bool // counted in the model's load (metrics.go)
}

// choice is one generated answer.
type choice struct {
	words  words
	length int    // tokens
	finish string // "stop" or "length"
}

// arrive takes the request's draw from the model and everything drawn from
// it: the fault, then the time to first token.
func (s *Sim) arrive(m *model) *call {
	c := &call{s: s, m: m, seq: m.draw(), created: time.Now().Unix(), faultAt: -1}
	c.pcg.Seed(c.seq, m.key)
	c.rng = rand.New(&c.pcg)
	fs := m.faults.Load()
	c.fault = fs.draw(c.rng.Float64())
	c.faultRetryAfter = fs.retryAfter
	c.ttft = m.ttft.draw(c.rng)
	return c
}

// chatCall prepares a chat completion of a validated request: the model,
// the draw, the context window and the answers' lengths.
func (s *Sim) chatCall(req *llm.ChatRequest) (*call, *llm.Error) {
	m, e := s.lookup(req.Model, false)
	if e != nil {
		return nil, e
	}
	c := s.arrive(m)
	c.prompt = promptTokens(req.Messages)
	if m.window > 0 && c.prompt+max(req.MaxTokens, 1) > m.window {
		return nil, s.contextError(m, c.prompt, req.MaxTokens)
	}
	// A continuation's answer is the one its messages without the prefill
	// get; the prefill's words are its first tokens.
	asked, prefill := req, ""
	if req.Continue {
		cut := *req
		cut.Messages = req.Messages[:len(req.Messages)-1]
		asked, prefill = &cut, req.Messages[len(req.Messages)-1].Content
	}
	key := m.contentKey(asked)
	n := max(req.N, 1)
	if n == 1 {
		c.choices = c.one[:]
	} else {
		c.choices = make([]choice, n)
	}
	span := uint64(m.outMax - m.outMin + 1)
	for i := range c.choices {
		ch := &c.choices[i]
		k := mix(key + uint64(i+1)*hashMul)
		ch.words.pcg.Seed(k, key)
		ch.length, ch.finish = m.outMin+int(mix(k)%span), "stop"
		if req.MaxTokens > 0 && req.MaxTokens < ch.length {
			ch.length, ch.finish = req.MaxTokens, "length"
		}
		if m.window > 0 && c.prompt+ch.length > m.window {
			ch.length, ch.finish = m.window-c.prompt, "length"
		}
		if req.Continue && i == 0 {
			c.skip = len(strings.Fields(prefill))
			// An answer the prefill already holds ends with one more word.
			ch.length = max(ch.length, c.skip+1)
			var scratch [32]byte
			for range c.skip {
				ch.words.next(scratch[:0], false)
			}
		}
		c.maxLen = max(c.maxLen, ch.length)
		c.total += ch.length - c.skip
	}
	if sc := scriptOf(asked.Messages); sc != nil && n == 1 && !req.Continue {
		ch := &c.choices[0]
		ch.length, ch.finish = sc.tokens(), sc.finish()
		c.maxLen, c.total, c.script = ch.length, ch.length, sc
	}
	c.charge = c.prompt + c.total
	if c.fault.midStream() {
		c.faultAt = min(c.fault.cfg.AfterTokens, c.total)
	}
	return c, nil
}

// embedCall prepares an embeddings call of a validated request.
func (s *Sim) embedCall(req *llm.EmbedRequest) (*call, int, *llm.Error) {
	m, e := s.lookup(req.Model, true)
	if e != nil {
		return nil, 0, e
	}
	dims := req.Dimensions
	if dims == 0 {
		dims = m.dims
	}
	if dims < 1 || dims > m.dims {
		return nil, 0, &llm.Error{
			Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: "dimensions",
			Code:     "invalid_value",
			Message:  fmt.Sprintf("Invalid 'dimensions': %d. The model %s supports 1 to %d dimensions.", req.Dimensions, m.name, m.dims),
			Provider: s.name, Model: m.name,
		}
	}
	c := s.arrive(m)
	for _, in := range req.Input {
		t := textTokens(in)
		if m.window > 0 && t > m.window {
			return nil, 0, &llm.Error{
				Kind: llm.KindContextLength, Status: http.StatusBadRequest, Type: typeInvalidRequest,
				Param: "input", Code: codeContextLength,
				Message: fmt.Sprintf("This model's maximum context length is %d tokens, however you requested %d tokens (%d in your prompt; 0 for the completion). Please reduce your prompt; or completion length.",
					m.window, t, t),
				Provider: s.name, Model: m.name,
			}
		}
		c.prompt += t
	}
	c.charge = c.prompt
	return c, dims, nil
}

func (s *Sim) contextError(m *model, prompt, maxTokens int) *llm.Error {
	msg := fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.",
		m.window, prompt)
	if maxTokens > 0 {
		msg = fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			m.window, prompt+maxTokens, prompt, maxTokens)
	}
	return &llm.Error{
		Kind: llm.KindContextLength, Status: http.StatusBadRequest, Type: typeInvalidRequest,
		Param: "messages", Code: codeContextLength, Message: msg, Provider: s.name, Model: m.name,
	}
}

// admit applies the rate limits and takes a capacity slot, waiting in the
// queue if there is one. It fills c.rate, on refusal too. An error with
// Status 0 means ctx ended while queued.
func (c *call) admit(ctx context.Context) *llm.Error {
	m := c.m
	if m.limits != nil {
		ri, hit, wait := m.limits.take(time.Now(), c.charge)
		c.rate = ri
		if hit != hitNone {
			return c.s.rateLimitError(m, hit, wait, c.charge)
		}
	}
	if m.gate != nil {
		switch err := m.gate.acquire(ctx); err {
		case nil:
			c.slot.Store(true)
		case errFull:
			return c.s.overCapacityError(m)
		default:
			return c.s.ctxError(m, err)
		}
	}
	c.enter()
	return nil
}

// release gives back the capacity slot, once.
func (c *call) release() {
	if c.slot.CompareAndSwap(true, false) {
		c.m.gate.release()
	}
	c.leave()
}

// firstDelay is the wait before the first token.
func (c *call) firstDelay() time.Duration {
	if c.fault.kind == faultSlowFirstToken {
		return addDelay(c.ttft, c.fault.cfg.Delay.D())
	}
	return c.ttft
}

// answerDelay is the wait before a plain (non-streamed) answer: the first
// token, one ITL per further round of tokens, and a stall.
func (c *call) answerDelay() time.Duration {
	d := c.firstDelay()
	for r := 1; r < c.maxLen; r++ {
		d = addDelay(d, c.m.itl.draw(c.rng))
	}
	if c.fault.kind == faultStall {
		if c.fault.cfg.Delay == 0 {
			return forever
		}
		d = addDelay(d, c.fault.cfg.Delay.D())
	}
	return d
}

func (c *call) usage() llm.Usage {
	return llm.Usage{PromptTokens: c.prompt, CompletionTokens: c.total, TotalTokens: c.prompt + c.total}
}

func (c *call) finishReasons() []string {
	out := make([]string, len(c.choices))
	for i := range c.choices {
		out[i] = c.choices[i].finish
	}
	return out
}
