package limit

import "time"

// Granularity is the width of the slots a window is counted in: use is
// recorded in the slot (of this width) it happened in, and released when
// that whole slot has left the window.
const Granularity = time.Second

// WindowSlots is the number of slots a window counts: the Period's worth
// of whole slots before the current one, plus the current one. A unit used
// at time u is therefore released between u+Period and u+Period+Granularity.
const WindowSlots = int(Period/Granularity) + 1

// Window is the use of one dimension (requests or tokens) of one scope in
// the current window. Used[a] is what was used in the slot a slots before
// the current one (Used[0] is the current slot).
type Window struct {
	Used [WindowSlots]int
}

// Total returns the use in the window.
func (w *Window) Total() int {
	n := 0
	for _, u := range w.Used {
		n += u
	}
	return n
}

// Level is the state of one scope just before a reservation.
type Level struct {
	Requests, Tokens Window
	// InFlight is the number of concurrency slots held.
	InFlight int
}

// Decide decides a reservation of one request and tokens tokens against
// scopes whose levels are levels (same order), into the current slot, with
// the rule every backend applies: the request is allowed if and only if,
// in every scope, each limited dimension's use in the window plus the
// request's cost stays within the limit, and a concurrency slot is free.
// A backend evaluates that rule atomically and then calls Decide for the
// Decision, so the memory and Redis limiters answer alike.
func Decide(scopes []Scope, levels []Level, tokens int, into time.Duration) Decision {
	d := Decision{Allowed: true}
	for i, s := range scopes {
		lv, l := &levels[i], s.Limits
		refuse := func(dim Dimension, wait time.Duration, tooLarge bool, cost int) {
			switch {
			case !d.Allowed && d.TooLarge:
				return // a request that never fits is the answer that matters
			case !d.Allowed && !tooLarge && wait <= d.RetryAfter:
				return
			}
			d.Allowed, d.Scope, d.Dimension, d.RetryAfter, d.TooLarge, d.Requested = false, s, dim, wait, tooLarge, cost
		}
		if r := l.RequestsPerMinute; r > 0 {
			if used := lv.Requests.Total(); used+1 > r {
				refuse(Requests, lv.Requests.wait(used+1-r, into), false, 1)
			}
		}
		if r := l.TokensPerMinute; r > 0 {
			if used := lv.Tokens.Total(); used+tokens > r {
				if tokens > r {
					refuse(Tokens, 0, true, tokens)
				} else {
					refuse(Tokens, lv.Tokens.wait(used+tokens-r, into), false, tokens)
				}
			}
		}
		if c := l.Concurrent; c > 0 && lv.InFlight >= c {
			refuse(Concurrency, ConcurrencyRetryAfter, false, 1)
		}
	}
	reqCost, tokCost := 0, 0
	if d.Allowed {
		reqCost, tokCost = 1, tokens
	}
	first := [2]bool{true, true}
	for i, s := range scopes {
		lv, l := &levels[i], s.Limits
		if r := l.RequestsPerMinute; r > 0 {
			st := lv.Requests.status(r, reqCost, into)
			if first[0] || st.Remaining < d.Requests.Remaining {
				d.Requests, first[0] = st, false
			}
		}
		if r := l.TokensPerMinute; r > 0 {
			st := lv.Tokens.status(r, tokCost, into)
			if first[1] || st.Remaining < d.Tokens.Remaining {
				d.Tokens, first[1] = st, false
			}
		}
	}
	return d
}

// release returns how long after now the use of the slot a slots old
// leaves the window.
func release(a int, into time.Duration) time.Duration {
	return time.Duration(WindowSlots-a)*Granularity - into
}

// wait returns how long until at least need units leave the window.
func (w *Window) wait(need int, into time.Duration) time.Duration {
	freed := 0
	for a := WindowSlots - 1; a >= 0; a-- {
		if freed += w.Used[a]; freed >= need {
			return release(a, into)
		}
	}
	return release(0, into) // unreachable for need <= Total
}

// status describes the window of limit with cost added to the current
// slot.
func (w *Window) status(limit, cost int, into time.Duration) Status {
	st := Status{Limit: limit, Remaining: max(limit-w.Total()-cost, 0)}
	if cost > 0 {
		st.Reset = release(0, into)
		return st
	}
	for a, u := range w.Used {
		if u > 0 {
			st.Reset = release(a, into)
			break
		}
	}
	return st
}
