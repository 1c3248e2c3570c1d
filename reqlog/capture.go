package reqlog

import (
	"strings"

	"github.com/bulwark-ai/bulwark/redact"
)

// Margin is how many bytes beyond the capture limit the request path
// keeps of a text, so that masking sees whole a secret or number the
// limit cuts through (the longest thing masked whole, an IBAN or a card
// number with separators, is far shorter; an API key cut by the margin
// still matches its pattern).
const Margin = 256

// Clip returns a copy of at most n bytes of s, cut on a rune boundary,
// and whether it cut anything. The copy lets the request's own memory go
// once the request ends.
func Clip(s string, n int) (string, bool) {
	if n <= 0 {
		return "", s != ""
	}
	c := cut(s, n)
	return strings.Clone(c), len(c) < len(s)
}

// seal masks personal data and secrets in c and cuts its texts to limit
// bytes: the prompt messages share one limit, the completion has its own.
// It runs on the Writer's goroutine, never on the request path.
func seal(c *Content, limit int) {
	if c == nil {
		return
	}
	left := limit
	for i := range c.Messages {
		m := &c.Messages[i]
		m.Role = cleanText(m.Role, MaxField)
		text := redact.String(validUTF8(m.Content))
		if len(text) > left {
			text, c.Truncated = cut(text, left), true
		}
		m.Content = text
		left -= len(text)
		if left <= 0 && i+1 < len(c.Messages) {
			c.Messages, c.Truncated = c.Messages[:i+1], true
			break
		}
	}
	text := redact.String(validUTF8(c.Completion))
	if len(text) > limit {
		text, c.Truncated = cut(text, limit), true
	}
	c.Completion = text
}

// validUTF8 returns s as valid UTF-8 without NUL bytes.
func validUTF8(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
