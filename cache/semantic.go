package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reasons a chat request body is not looked up in the semantic cache
// (Question's error): the gateway serves it from the exact cache alone.
var (
	ErrTools       = errors.New("semantic cache: the request has tools")
	ErrChoices     = errors.New("semantic cache: the request asks for several choices")
	ErrNoQuestion  = errors.New("semantic cache: the last message is not a user's text")
	ErrNotSemantic = errors.New("semantic cache: the body is not a chat request")
)

// Question is what the semantic cache makes of a chat request body: the
// question, matched fuzzily, and the hash of everything else, matched
// exactly.
type Question struct {
	// Text is the text of the last message, a user's: its content, or
	// the text parts of its content array joined by newlines.
	Text string
	// Context is the SHA-256 of the body's canonical form (as Chat hashes
	// it, Unshaping left out) with the last message's content replaced by
	// null: the system prompt, earlier turns, sampling parameters,
	// response format and every other field.
	Context [sha256.Size]byte
	// Literals are the question's literals (Literals): questions whose
	// literals differ are never matched.
	Literals string
}

// QuestionOf splits a chat request body into its question and context.
// A body with tools (tools or functions set), with n above 1, or whose
// last message is not a user's text (a content part that is not text —
// an image, audio, a file — included) has no question: its error says
// why.
func QuestionOf(body []byte) (Question, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return Question{}, fmt.Errorf("%w: %w", ErrNotSemantic, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Question{}, ErrNotSemantic
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Question{}, ErrNotSemantic
	}
	for _, k := range []string{"tools", "functions"} {
		if t, ok := obj[k]; ok && t != nil {
			if a, isArray := t.([]any); !isArray || len(a) > 0 {
				return Question{}, ErrTools
			}
		}
	}
	if n, ok := obj["n"].(json.Number); ok {
		if x, err := n.Float64(); err != nil || x > 1 {
			return Question{}, ErrChoices
		}
	}
	msgs, _ := obj["messages"].([]any)
	if len(msgs) == 0 {
		return Question{}, ErrNoQuestion
	}
	last, ok := msgs[len(msgs)-1].(map[string]any)
	if !ok || last["role"] != "user" {
		return Question{}, ErrNoQuestion
	}
	text, ok := textOf(last["content"])
	if !ok || strings.TrimSpace(text) == "" {
		return Question{}, ErrNoQuestion
	}
	// The last message is rebuilt rather than changed in place: msgs
	// belongs to obj, which is hashed next.
	ctxMsg := make(map[string]any, len(last))
	for k, x := range last {
		ctxMsg[k] = x
	}
	ctxMsg["content"] = nil
	msgs[len(msgs)-1] = ctxMsg
	for _, k := range Unshaping {
		delete(obj, k)
	}
	var buf bytes.Buffer
	if err := canonical(&buf, obj); err != nil {
		return Question{}, err
	}
	return Question{Text: text, Context: sha256.Sum256(buf.Bytes()), Literals: Literals(text)}, nil
}

// textOf returns the text of a message's content: a string, or an array
// of text parts only.
func textOf(c any) (string, bool) {
	switch c := c.(type) {
	case string:
		return c, true
	case []any:
		var b strings.Builder
		for i, p := range c {
			part, ok := p.(map[string]any)
			if !ok || part["type"] != "text" {
				return "", false
			}
			s, ok := part["text"].(string)
			if !ok {
				return "", false
			}
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(s)
		}
		return b.String(), true
	}
	return "", false
}

// Bucket returns the semantic index's bucket of a question: the questions
// in one bucket are of the same tenant, for the same alias at the same
// route version, in the same mode (ModeChat or ModeStream), embedded by
// the same embedding model, with the same context and the same literals,
// so that only the rest of their texts differ. 64 hex digits.
func Bucket(mode, tenant, alias, version, embeddingModel string, q Question) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{"bulwark-semantic-v1", mode, tenant, alias, version, embeddingModel, q.Literals} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write(q.Context[:])
	return hex.EncodeToString(h.Sum(nil))
}

// Literals returns what of a question must match exactly for another's
// answer to answer it, whatever the embedding says: its words that hold a
// digit, a dot or a letter beyond ASCII (numbers, versions, model and
// train numbers, domains, words of other scripts), its capitalised words
// other than a sentence's first and "I" (names), and its symbols other than
// common punctuation (=, @, [, ^…), lowercased, sorted and joined by
// spaces. An embedding model may not see them — local-embed drops the
// numbers and the words it does not know, so that "Are there perks in
// Battlefield 4?" and "… Battlefield 3?" embed alike — and a semantic
// cache that confused them would answer the wrong question. The literals
// are part of a question's bucket (Bucket): questions whose literals
// differ are never compared.
func Literals(text string) string {
	var out []string
	sentence := true // at a sentence's start
	rs := []rune(text)
	alnum := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i := 0; i < len(rs); {
		r := rs[i]
		if alnum(r) {
			j := i
			for j < len(rs) && (alnum(rs[j]) || (rs[j] == '.' || rs[j] == '\'') && j+1 < len(rs) && alnum(rs[j+1])) {
				j++
			}
			w := string(rs[i:j])
			literal := strings.ContainsFunc(w, func(r rune) bool { return unicode.IsDigit(r) || r == '.' || r >= utf8.RuneSelf }) ||
				unicode.IsUpper(r) && !sentence && w != "I"
			if literal {
				out = append(out, strings.ToLower(w))
			}
			sentence, i = false, j
			continue
		}
		switch {
		case r == '.' || r == '?' || r == '!':
			sentence = true
		case unicode.IsSpace(r) || strings.ContainsRune(",'\"-:;()", r):
		default:
			out = append(out, string(r))
		}
		i++
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}
