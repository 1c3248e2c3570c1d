package llm

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an upstream failure. Retry and fallback decisions are made
// from the Kind alone.
type Kind uint8

// The kinds of upstream failure.
const (
	KindUnknown       Kind = iota
	KindRateLimited        // 429: the upstream throttled us; RetryAfter may say for how long
	KindOverloaded         // 503/529: the upstream is out of capacity
	KindServer             // 5xx other than overload
	KindTimeout            // no answer (or no first token) in time
	KindConnection         // could not connect, or the connection was reset before an answer
	KindStreamBroken       // the stream was cut, stalled or carried a malformed event
	KindContextLength      // the prompt does not fit the model's context window
	KindContentFilter      // the upstream refused the content
	KindBadRequest         // the upstream rejected the request as invalid
	KindAuth               // the upstream rejected our credentials
	KindNotFound           // the upstream does not know the model or path
	KindCanceled           // the client went away
)

var kindNames = [...]string{
	KindUnknown:       "unknown",
	KindRateLimited:   "rate_limited",
	KindOverloaded:    "overloaded",
	KindServer:        "server_error",
	KindTimeout:       "timeout",
	KindConnection:    "connection",
	KindStreamBroken:  "stream_broken",
	KindContextLength: "context_length_exceeded",
	KindContentFilter: "content_filter",
	KindBadRequest:    "bad_request",
	KindAuth:          "authentication",
	KindNotFound:      "not_found",
	KindCanceled:      "canceled",
}

// String returns the kind's stable snake_case name, used in logs, metrics
// and error codes.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Retryable reports whether another attempt (on the same or another target)
// may succeed where this one failed.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindOverloaded, KindServer, KindTimeout, KindConnection, KindStreamBroken, KindUnknown:
		return true
	}
	return false
}

// Error is an upstream failure. It never holds a credential.
type Error struct {
	Kind Kind
	// Status is the upstream's HTTP status, zero when there was no answer.
	Status int
	// Code, Type and Param come from the upstream's error body when it had one.
	Code  string
	Type  string
	Param string
	// Message is the upstream's message (or ours, when it gave none).
	Message string
	// RetryAfter is the wait the upstream asked for, zero when it said nothing.
	RetryAfter time.Duration
	// RateLimit is what the upstream said about its rate limit on this
	// answer (OpenAI's x-ratelimit-* headers, Anthropic's
	// anthropic-ratelimit-*), nil when it said nothing.
	RateLimit *RateLimit
	// Provider and Model name the target that failed.
	Provider string
	Model    string
	// Err is the underlying cause, if any.
	Err error
	// Break says how a stream that had started broke (a cut, a stall, a
	// malformed event, an error event); BreakNone for every other failure.
	// The gateway decides from it whether a broken stream may be
	// continued (gateway/continue.go).
	Break Break
}

// Break is the way a started stream ended improperly.
type Break uint8

const (
	BreakNone       Break = iota
	BreakCut              // the connection ended before the stream's end
	BreakIdle             // no event within the stream idle timeout
	BreakMalformed        // an event that is not a chunk
	BreakErrorEvent       // an error event in the stream
)

var breakNames = [...]string{BreakNone: "", BreakCut: "cut", BreakIdle: "idle", BreakMalformed: "malformed", BreakErrorEvent: "error_event"}

// String returns the break's name as configuration writes it
// (models[].stream_recovery.on): cut, idle, malformed, error_event; "" for
// BreakNone.
func (b Break) String() string {
	if int(b) < len(breakNames) {
		return breakNames[b]
	}
	return fmt.Sprintf("break(%d)", b)
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	where := e.Provider
	if e.Model != "" {
		where += "/" + e.Model
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s (status %d): %s", where, e.Kind, e.Status, msg)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Kind, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// RateLimit is an upstream's statement of its own rate limit on an answer:
// how many requests and tokens it will still take, out of how many, and
// how long until the limit is back to its initial state (OpenAI's and
// Azure OpenAI's x-ratelimit-remaining-*, -limit-* and -reset-* headers).
// A count the upstream did not state is -1, a reset it did not state 0.
type RateLimit struct {
	RemainingRequests, LimitRequests int
	ResetRequests                    time.Duration
	RemainingTokens, LimitTokens     int
	ResetTokens                      time.Duration
	// At is when the answer stating it arrived; the resets count from it.
	At time.Time
}

// KindOf returns the Kind of err if it is (or wraps) an *Error, and
// KindUnknown otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// KindForStatus maps an upstream HTTP status to a Kind, for providers whose
// error bodies say nothing more specific.
func KindForStatus(status int) Kind {
	switch {
	case status == 429:
		return KindRateLimited
	case status == 503 || status == 529:
		return KindOverloaded
	case status == 408 || status == 504:
		return KindTimeout
	case status == 401 || status == 403:
		return KindAuth
	case status == 404:
		return KindNotFound
	case status == 413:
		return KindContextLength
	case status >= 500:
		return KindServer
	case status >= 400:
		return KindBadRequest
	}
	return KindUnknown
}
