package llm

// Reading OpenAI JSON in place, without decoding it: what a chunk's text
// is (AppendChunkText, for billing a stream that breaks), and the scanning
// primitives the OpenAI provider rewrites request bodies with. Hand-written
// because they run on every chunk and every request and must not allocate;
// encoding/json and the libraries on offer either allocate per value or
// copy the strings they return.

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// Keys AppendChunkText reads.
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

// AppendChunkText appends to b the text a chunk (its data, a JSON object)
// carries for the client: each choice's content, refusal and reasoning,
// and its tool or function calls' names and arguments. It reads the chunk
// in place and allocates only to grow b.
func AppendChunkText(b, data []byte) []byte {
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
	i := SkipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return
	}
	for i = SkipSpace(v, i+1); i < len(v) && v[i] == '"'; {
		ks := i
		i = SkipString(v, i)
		k := v[ks+1 : max(i-1, ks+1)]
		if i = SkipSpace(v, i); i >= len(v) || v[i] != ':' {
			return
		}
		i = SkipSpace(v, i+1)
		vs := i
		i = SkipValue(v, i)
		f(k, v[vs:i])
		if i = SkipSpace(v, i); i >= len(v) || v[i] != ',' {
			return
		}
		i = SkipSpace(v, i+1)
	}
}

// eachElement calls f with each element of the JSON array v; nothing when
// v is not an array. f must not keep the func.
func eachElement(v []byte, f func(e []byte)) {
	i := SkipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return
	}
	for i = SkipSpace(v, i+1); i < len(v) && v[i] != ']'; {
		s := i
		if i = SkipValue(v, i); i == s {
			return
		}
		f(v[s:i])
		if i = SkipSpace(v, i); i >= len(v) || v[i] != ',' {
			return
		}
		i = SkipSpace(v, i+1)
	}
}

// SkipSpace returns the index of the first byte from b[i] that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipString returns the index after the JSON string starting at b[i].
func SkipString(b []byte, i int) int {
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

// SkipValue returns the index after the JSON value starting at b[i]; it
// checks nothing, and stops at the end of b.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = SkipString(b, i)
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
