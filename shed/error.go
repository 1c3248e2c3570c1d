package shed

import (
	"errors"
	"fmt"
	"time"
)

// ErrOverloaded matches every *Error with errors.Is.
var ErrOverloaded = errors.New("overloaded")

// Scope says whose load caused a refusal.
type Scope string

const (
	// ScopeTenant: the caller is over its own share; answered 429.
	ScopeTenant Scope = "tenant"
	// ScopeSystem: Bulwark or the target is overloaded; answered 503.
	ScopeSystem Scope = "system"
)

// Reasons a request is shed. They are stable names, used in error bodies
// and metric labels.
const (
	ReasonMaxInflight = "max_inflight" // the process serves its maximum
	ReasonMaxQueued   = "max_queued"   // the process queues its maximum
	ReasonQueueFull   = "queue_full"   // the target's queue is full
	ReasonDeadline    = "deadline"     // the estimated wait does not fit the deadline
	ReasonDisplaced   = "displaced"    // a more important request took its place in the queue
	ReasonQueueWait   = "queue_wait"   // it waited in the queue until its deadline
	ReasonQueueDelay  = "queue_delay"  // the queue stood for an interval and it waited past the target
	// ReasonReservedFull: a target reserved for the request's class had no
	// room (Limiter.TryAcquire); the request moves on to a shared target.
	ReasonReservedFull = "reserved_full"
)

// Error is a request Bulwark refused to serve. It is safe to copy.
type Error struct {
	Reason string
	Scope  Scope
	// RetryAfter is when a retry has a fair chance, from the queue state.
	RetryAfter time.Duration
	Class      Class
	Tenant     string
	// Target names the upstream target whose queue refused, empty for the
	// process gate.
	Target string
}

func (e *Error) Error() string {
	where := "bulwark"
	if e.Target != "" {
		where = e.Target
	}
	what := "is overloaded"
	if e.Scope == ScopeTenant {
		what = "is at this tenant's share of capacity"
	}
	return fmt.Sprintf("%s %s; %s request shed (%s)", where, what, e.Class, e.Reason)
}

// Is reports whether target is ErrOverloaded.
func (e *Error) Is(target error) bool { return target == ErrOverloaded }
