package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Period is the window every rate is expressed over: limits are per minute.
const Period = time.Minute

// ConcurrencyRetryAfter is the RetryAfter of a refusal by a concurrency
// limit: a slot frees when some request ends, which no limiter can predict.
const ConcurrencyRetryAfter = time.Second

// DefaultLease is how long a concurrency slot is held when its reservation
// is neither committed nor cancelled (the replica holding it crashed, or a
// caller forgot it). It must exceed the longest request, streams included.
const DefaultLease = 10 * time.Minute

// Scope kinds. An alias scope's ID is the alias: its limits (config
// models[].limits) bound the traffic of every tenant to it together.
const (
	ScopeKey    = "key"
	ScopeTenant = "tenant"
	ScopeAlias  = "alias"
)

// Errors. ErrLimited is matched (errors.Is) by the *Error of a refusal;
// ErrInvalid by the error of a call a caller got wrong.
var (
	ErrLimited = errors.New("rate limit exceeded")
	ErrInvalid = errors.New("invalid limiter call")
)

// Limits are the limits of one scope. A zero field means no limit on that
// dimension; the zero Limits limit nothing.
type Limits struct {
	RequestsPerMinute int
	TokensPerMinute   int
	// Concurrent is the number of requests that may be in flight at once.
	Concurrent int
}

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool { return l == Limits{} }

// Scope is one thing a request counts against: its key, its tenant, the
// alias it calls. Limits travel with each call, so a config reload applies
// to the next request without the limiter knowing about config.
type Scope struct {
	Kind   string
	ID     string
	Limits Limits
}

// String returns "kind:id", the scope's name in keys and messages.
func (s Scope) String() string { return s.Kind + ":" + s.ID }

// Dimension is what a limit counts.
type Dimension int

// Dimensions.
const (
	Requests Dimension = iota + 1
	Tokens
	Concurrency
)

func (d Dimension) String() string {
	switch d {
	case Requests:
		return "requests"
	case Tokens:
		return "tokens"
	case Concurrency:
		return "concurrency"
	}
	return fmt.Sprintf("Dimension(%d)", int(d))
}

// Status is what the OpenAI-style x-ratelimit-* headers of one dimension
// say: x-ratelimit-limit-requests, -remaining-requests, -reset-requests and
// their -tokens counterparts. Limit 0 means the dimension is not limited
// and no header should be sent.
type Status struct {
	Limit     int
	Remaining int
	// Reset is the time until the limit is back to its full capacity.
	Reset time.Duration
}

// Decision is the outcome of a Reserve. Requests and Tokens describe the
// most constraining scope of each dimension (the one with the least
// remaining), after the reservation if it was allowed.
type Decision struct {
	Allowed  bool
	Requests Status
	Tokens   Status

	// When refused: the scope and dimension that refused, and how long to
	// wait before retrying. If several refused, the one with the longest
	// wait is reported, since every scope must admit the request.
	Scope      Scope
	Dimension  Dimension
	RetryAfter time.Duration
	// TooLarge means the request's estimated tokens exceed the scope's
	// tokens-per-minute limit itself: no wait will admit it.
	TooLarge bool
	// Requested is the refused dimension's cost: 1, or the token estimate.
	Requested int
}

// Err returns nil if d allowed the request, else an *Error describing the
// refusal.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &Error{Scope: d.Scope, Dimension: d.Dimension, RetryAfter: d.RetryAfter, TooLarge: d.TooLarge, Requested: d.Requested}
}

// Error is a refusal. It matches ErrLimited.
type Error struct {
	Scope      Scope
	Dimension  Dimension
	RetryAfter time.Duration
	TooLarge   bool
	Requested  int
}

// Limit returns the refused dimension's limit.
func (e *Error) Limit() int {
	switch e.Dimension {
	case Requests:
		return e.Scope.Limits.RequestsPerMinute
	case Tokens:
		return e.Scope.Limits.TokensPerMinute
	case Concurrency:
		return e.Scope.Limits.Concurrent
	}
	return 0
}

func (e *Error) Error() string {
	switch {
	case e.TooLarge:
		return fmt.Sprintf("request too large for %s: %d tokens requested, limit %d tokens per minute", e.Scope, e.Requested, e.Limit())
	case e.Dimension == Concurrency:
		return fmt.Sprintf("concurrency limit reached for %s: limit %d requests in flight", e.Scope, e.Limit())
	}
	return fmt.Sprintf("rate limit reached for %s: limit %d %s per minute, retry after %v", e.Scope, e.Limit(), e.Dimension, e.RetryAfter)
}

// Unwrap returns ErrLimited.
func (e *Error) Unwrap() error { return ErrLimited }

// Reservation is what an allowed Reserve holds: one request, the estimated
// tokens and one concurrency slot in every scope. Exactly one of Commit and
// Cancel settles it; later calls of either, and a retry of a call whose
// answer was lost, are no-ops that return nil. A reservation not settled
// within its lease plus two Periods is forgotten, and settling it then does
// nothing. A Reservation is safe for concurrent use.
type Reservation interface {
	// ID identifies the reservation; backends use it to settle it once.
	ID() string
	// Commit replaces the token estimate with the tokens the request
	// actually used (more or fewer) and frees the concurrency slot. The
	// request stays counted.
	Commit(ctx context.Context, tokens int) error
	// Cancel gives back everything reserved: the request, the tokens and
	// the slot. Use it when the request never reached an upstream or failed
	// before anything was billed.
	Cancel(ctx context.Context) error
}

// Limiter enforces the limits of scopes. Implementations are safe for
// concurrent use.
type Limiter interface {
	// Reserve reserves one request, tokens estimated tokens and one
	// concurrency slot in every scope, all or nothing. If a limit refuses,
	// the Reservation is nil, the Decision says why (Decision.Err) and
	// nothing was consumed; the error is only for a failure of the limiter
	// itself or an invalid call (ErrInvalid).
	Reserve(ctx context.Context, scopes []Scope, tokens int) (Reservation, Decision, error)
}

// Validate reports, wrapping ErrInvalid, whether a Reserve call is
// malformed: negative tokens or limits, a scope without a kind or ID, or
// the same scope twice. Backends call it first.
func Validate(scopes []Scope, tokens int) error {
	if tokens < 0 {
		return fmt.Errorf("%w: negative token estimate %d", ErrInvalid, tokens)
	}
	for i, s := range scopes {
		if s.Kind == "" || s.ID == "" {
			return fmt.Errorf("%w: scope %d has no kind or ID", ErrInvalid, i)
		}
		if l := s.Limits; l.RequestsPerMinute < 0 || l.TokensPerMinute < 0 || l.Concurrent < 0 {
			return fmt.Errorf("%w: scope %s has a negative limit", ErrInvalid, s)
		}
		for _, p := range scopes[:i] {
			if p.Kind == s.Kind && p.ID == s.ID {
				return fmt.Errorf("%w: scope %s given twice", ErrInvalid, s)
			}
		}
	}
	return nil
}

// ValidateCommit reports, wrapping ErrInvalid, whether a commit's token
// count is malformed.
func ValidateCommit(tokens int) error {
	if tokens < 0 {
		return fmt.Errorf("%w: negative token count %d", ErrInvalid, tokens)
	}
	return nil
}
