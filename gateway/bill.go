package gateway

import (
	"bytes"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

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
		*b.buf = appendSent(*b.buf, c.Data)
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

// Keys appendSent reads.
var (
	keyChoices   = []byte("choices")
	keyDelta     = []byte("delta")
	keyFunction  = []byte("function")
	keyName      = []byte("name")
	keyArguments = []byte("arguments")
	keyToolCalls = []byte("tool_calls")
	keyFuncCall  = []byte("function_call")
	// textKeys are the delta members whose string is text for the client.
	textKeys = [...][]byte{[]byte("content"), []byte("refusal"), []byte("reasoning_content"), []byte("reasoning")}
)

// appendSent appends to b the text a chunk (its data, a JSON object)
// carries for the client: each choice's content, refusal and reasoning,
// and its tool or function calls' names and arguments. It reads the chunk
// in place and allocates only to grow b.
func appendSent(b, data []byte) []byte {
	choices, ok := memberOf(data, keyChoices)
	if !ok {
		return b
	}
	eachElement(choices, func(ch []byte) {
		delta, ok := memberOf(ch, keyDelta)
		if !ok {
			return
		}
		eachMember(delta, func(k, v []byte) {
			for _, tk := range textKeys {
				if bytes.Equal(k, tk) {
					b = appendJSONString(b, v)
					return
				}
			}
			call := func(f []byte) {
				for _, fk := range [...][]byte{keyName, keyArguments} {
					if s, ok := memberOf(f, fk); ok {
						b = appendJSONString(b, s)
					}
				}
			}
			switch {
			case bytes.Equal(k, keyToolCalls):
				eachElement(v, func(tc []byte) {
					if f, ok := memberOf(tc, keyFunction); ok {
						call(f)
					}
				})
			case bytes.Equal(k, keyFuncCall):
				call(v)
			}
		})
	})
	return b
}

// memberOf returns the value of the member key of the JSON object v.
func memberOf(v, key []byte) (val []byte, ok bool) {
	eachMember(v, func(k, x []byte) {
		if !ok && bytes.Equal(k, key) {
			val, ok = x, true
		}
	})
	return val, ok
}

// eachMember calls f with each member's key (as written, without its
// quotes) and value of the JSON object v; nothing when v is not an
// object. f must not keep the func.
func eachMember(v []byte, f func(k, val []byte)) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return
	}
	for i = skipSpace(v, i+1); i < len(v) && v[i] == '"'; {
		ks := i
		i = skipString(v, i)
		k := v[ks+1 : max(i-1, ks+1)]
		if i = skipSpace(v, i); i >= len(v) || v[i] != ':' {
			return
		}
		i = skipSpace(v, i+1)
		vs := i
		i = skipValue(v, i)
		f(k, v[vs:i])
		if i = skipSpace(v, i); i >= len(v) || v[i] != ',' {
			return
		}
		i = skipSpace(v, i+1)
	}
}

// eachElement calls f with each element of the JSON array v; nothing when
// v is not an array. f must not keep the func.
func eachElement(v []byte, f func(e []byte)) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return
	}
	for i = skipSpace(v, i+1); i < len(v) && v[i] != ']'; {
		s := i
		if i = skipValue(v, i); i == s {
			return
		}
		f(v[s:i])
		if i = skipSpace(v, i); i >= len(v) || v[i] != ',' {
			return
		}
		i = skipSpace(v, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// appendJSONString appends the text of the JSON string v to b; nothing
// when v is not a string (null).
func appendJSONString(b, v []byte) []byte {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return b
	}
	v = v[1 : len(v)-1]
	for len(v) > 0 {
		i := bytes.IndexByte(v, '\\')
		if i < 0 {
			return append(b, v...)
		}
		b, v = append(b, v[:i]...), v[i:]
		if len(v) < 2 {
			return b
		}
		switch c := v[1]; c {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, n := unicodeEscape(v)
			b, v = utf8.AppendRune(b, r), v[n:]
			continue
		default: // '"', '\\', '/'
			b = append(b, c)
		}
		v = v[2:]
	}
	return b
}

// unicodeEscape decodes the \uXXXX escape (or surrogate pair of them) at
// the start of v: the rune and the bytes it took.
func unicodeEscape(v []byte) (rune, int) {
	r, ok := hex4(v)
	if !ok {
		return utf8.RuneError, min(len(v), 2)
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(v[6:]); ok && len(v) >= 12 && v[6] == '\\' {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

// hex4 reads the four hex digits of the \uXXXX escape at the start of v.
func hex4(v []byte) (rune, bool) {
	if len(v) < 6 || v[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range v[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
