package shed

import "strings"

// Class is a request's priority class. The zero value is Interactive.
type Class int

// The priority classes.
const (
	Interactive Class = iota
	Critical
	Batch
	numClasses
)

// Classes lists every class, most important first.
var Classes = []Class{Critical, Interactive, Batch}

// rank orders classes by importance: 0 is the most important.
func (c Class) rank() int {
	switch c {
	case Critical:
		return 0
	case Batch:
		return 2
	}
	return 1
}

// before reports whether c is more important than d.
func (c Class) before(d Class) bool { return c.rank() < d.rank() }

func (c Class) String() string {
	switch c {
	case Critical:
		return "critical"
	case Batch:
		return "batch"
	}
	return "interactive"
}

// ParseClass parses a class name (case-insensitive). It also accepts
// OpenAI's service tiers: "priority" is critical, "flex" is batch,
// "default" and "auto" are interactive.
func ParseClass(s string) (Class, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "priority":
		return Critical, true
	case "interactive", "default", "auto":
		return Interactive, true
	case "batch", "flex":
		return Batch, true
	}
	return Interactive, false
}

// Resolve returns a request's class. The request asks with header (the
// x-bulwark-priority header) or, when that is empty or unknown, with
// serviceTier (OpenAI's service_tier); otherwise it gets the class its key
// or tenant is set to (principal), else interactive. When the principal is
// set to a class, a request may lower itself below it but never raise
// itself above it, so only keys trusted with critical traffic send it.
func Resolve(principal, header, serviceTier string) Class {
	own, set := ParseClass(principal)
	asked, ok := ParseClass(header)
	if !ok {
		asked, ok = ParseClass(serviceTier)
	}
	switch {
	case !ok:
		return own
	case set && asked.before(own):
		return own
	}
	return asked
}
