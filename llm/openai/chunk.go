package openai

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// chunkFields is what Recv reads from a chunk event; the event itself is
// relayed as it came.
type chunkFields struct {
	model string
	// choices counts the elements of choices, null ones included.
	choices    int
	finish     string // the first non-empty finish_reason
	hasContent bool
	usage      *wireUsage
	hasError   bool // error is present and not null
}

// decodeChunkJSON reads a chunk event with encoding/json. It is the
// reference for scanChunk and handles every event scanChunk declines.
func decodeChunkJSON(data []byte) (chunkFields, error) {
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return chunkFields{}, err
	}
	f := chunkFields{model: w.Model, choices: len(w.Choices), usage: w.Usage, hasError: isPresent(w.Error)}
	for i := range w.Choices {
		c := &w.Choices[i]
		if c.FinishReason != "" {
			if f.finish == "" {
				f.finish = string(c.FinishReason)
			}
			f.hasContent = true
		}
		if c.Delta.hasContent() {
			f.hasContent = true
		}
	}
	return f, nil
}

// scanChunk reads a chunk event, which must be valid JSON, with the
// shallow scanner of the body splice instead of reflection: every chunk
// of every stream goes through here, and decoding it into wireChunk costs
// about a dozen allocations (see BenchmarkStreamRecv). It reports ok false
// for an event whose shape it leaves to decodeChunkJSON: a key that is
// escaped, not ASCII or repeated (encoding/json matches keys without regard
// to case and lets the last repeat win), or a value of a type decodeChunkJSON
// would reject or treat specially. FuzzChunk checks that the two agree
// whenever ok is true.
//
// prevModel is the model of the stream's previous chunk: a chunk naming the
// same model reuses the string instead of allocating it again.
func scanChunk(data []byte, prevModel string) (f chunkFields, ok bool) {
	top, ok := scanTop(data, prevModel, func(v []byte) bool { return scanChoices(v, &f) })
	f.model, f.usage, f.hasError = top.model, top.usage, top.hasError
	return f, ok
}

// topFields is what scanTop reads of a chat response's or chunk's top
// level.
type topFields struct {
	model    string
	usage    *wireUsage
	hasError bool
}

// scanTop reads the top-level object b, which must be valid JSON, as
// encoding/json reads model, usage and error into the wire structs, and
// hands the choices array (when present and not null) to choices, which
// reports whether it could read it. A model equal to prevModel reuses its
// string. It reports ok false for a shape it leaves to encoding/json: a
// key that is escaped, not ASCII or repeated (encoding/json matches keys
// without regard to case and lets the last repeat win), or a value of a
// type encoding/json would reject or treat specially. choices must not
// keep the func: it runs on every chunk, and a kept closure would escape.
func scanTop(b []byte, prevModel string, choices func(v []byte) bool) (f topFields, ok bool) {
	var buf [16]member
	ms, err := scanObject(b, buf[:0])
	if err != nil {
		return f, false
	}
	var seen uint8
	for i := range ms {
		m := &ms[i]
		k := b[m.keyStart+1 : m.keyEnd-1]
		v := b[m.valStart:m.valEnd]
		if !plainKey(k) || len(v) == 0 {
			return f, false
		}
		var bit uint8
		switch {
		case bytes.EqualFold(k, keyModel):
			bit = 1
			switch {
			case v[0] == '"':
				s := v[1 : len(v)-1]
				if !plainString(s) {
					return f, false
				}
				if string(s) == prevModel {
					f.model = prevModel
				} else {
					f.model = string(s)
				}
			case !isNull(v):
				return f, false
			}
		case bytes.EqualFold(k, keyChoices):
			bit = 2
			switch {
			case v[0] == '[':
				if !choices(v) {
					return f, false
				}
			case !isNull(v):
				return f, false
			}
		case bytes.EqualFold(k, keyUsage):
			bit = 4
			switch {
			case v[0] == '{':
				if f.usage, ok = scanUsage(v); !ok {
					return f, false
				}
			case !isNull(v):
				return f, false
			}
		case bytes.EqualFold(k, keyError):
			bit = 8
			f.hasError = isPresent(v)
		default:
			continue
		}
		if seen&bit != 0 {
			return f, false
		}
		seen |= bit
	}
	return f, true
}

var (
	keyModel        = []byte("model")
	keyChoices      = []byte("choices")
	keyUsage        = []byte("usage")
	keyError        = []byte("error")
	keyDelta        = []byte("delta")
	keyFinishReason = []byte("finish_reason")
	// deltaKeys are the delta fields that carry output (see wireDelta).
	deltaKeys = [...][]byte{[]byte("role"), []byte("content"), []byte("refusal"), []byte("tool_calls"),
		[]byte("function_call"), []byte("reasoning_content"), []byte("reasoning")}
)

// scanChoices reads the choices array v into f.
func scanChoices(v []byte, f *chunkFields) bool {
	return scanArray(v, func(e []byte) bool {
		switch {
		case len(e) > 0 && e[0] == '{':
			if !scanChoice(e, f) {
				return false
			}
		case !isNull(e):
			return false
		}
		f.choices++
		return true
	})
}

// scanArray hands each element of the JSON array v (valid JSON) to elem,
// in order, and reports false as soon as elem does. elem must not keep
// the func: it runs for every chunk.
func scanArray(v []byte, elem func(e []byte) bool) bool {
	i := llm.SkipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return true
	}
	for i < len(v) {
		i = llm.SkipSpace(v, i)
		start := i
		i = llm.SkipValue(v, i)
		if !elem(v[start:i]) {
			return false
		}
		i = llm.SkipSpace(v, i)
		if i >= len(v) {
			return false
		}
		switch v[i] {
		case ',':
			i++
		case ']':
			return true
		default:
			return false
		}
	}
	return false
}

// scanChoice reads one choice object.
func scanChoice(e []byte, f *chunkFields) bool {
	var buf [8]member
	ms, err := scanObject(e, buf[:0])
	if err != nil {
		return false
	}
	var seenDelta, seenFinish bool
	for i := range ms {
		m := &ms[i]
		k := e[m.keyStart+1 : m.keyEnd-1]
		v := e[m.valStart:m.valEnd]
		if !plainKey(k) || len(v) == 0 {
			return false
		}
		switch {
		case bytes.EqualFold(k, keyDelta):
			if seenDelta {
				return false
			}
			seenDelta = true
			switch {
			case v[0] == '{':
				has, ok := scanDelta(v)
				if !ok {
					return false
				}
				f.hasContent = f.hasContent || has
			case !isNull(v):
				return false
			}
		case bytes.EqualFold(k, keyFinishReason):
			if seenFinish {
				return false
			}
			seenFinish = true
			if v[0] != '"' {
				continue // null or another scalar: no finish reason
			}
			s := v[1 : len(v)-1]
			if !plainString(s) {
				return false
			}
			if len(s) > 0 {
				f.hasContent = true
				if f.finish == "" {
					f.finish = finishReason(s)
				}
			}
		}
	}
	return true
}

// scanDelta reports whether a delta object carries output.
func scanDelta(d []byte) (has, ok bool) {
	var buf [8]member
	ms, err := scanObject(d, buf[:0])
	if err != nil {
		return false, false
	}
	var seen uint8
	for i := range ms {
		m := &ms[i]
		k := d[m.keyStart+1 : m.keyEnd-1]
		if !plainKey(k) {
			return false, false
		}
		for j, dk := range deltaKeys {
			if bytes.EqualFold(k, dk) {
				if seen&(1<<j) != 0 {
					return false, false
				}
				seen |= 1 << j
				if nonEmpty(d[m.valStart:m.valEnd]) {
					has = true
				}
				break
			}
		}
	}
	return has, true
}

// plainKey reports whether an object key (without its quotes) is printable
// ASCII without escapes, so that comparing its bytes without regard to
// ASCII case is how encoding/json would match it.
func plainKey(k []byte) bool {
	for _, c := range k {
		if c == '\\' || c < ' ' || c >= 0x80 {
			return false
		}
	}
	return true
}

// plainString reports whether the inside of a JSON string is its value as
// encoding/json would decode it: no escapes, and valid UTF-8.
func plainString(s []byte) bool {
	return bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s)
}

func isNull(v []byte) bool { return string(v) == "null" }
