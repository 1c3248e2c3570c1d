package redis

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwark-ai/bulwark/limit"
)

var (
	//go:embed scripts/reserve.lua
	reserveSrc string
	//go:embed scripts/settle.lua
	settleSrc string
	//go:embed scripts/reconcile.lua
	reconcileSrc string

	reserveScript   = goredis.NewScript(reserveSrc)
	settleScript    = goredis.NewScript(settleSrc)
	reconcileScript = goredis.NewScript(reconcileSrc)
	// epochScript sets KEYS[1] to ARGV[1] unless it is set, and returns
	// its value: one round trip, on any Redis the scripts run on.
	epochScript = goredis.NewScript(`redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`)
)

// LimiterOptions configure a Limiter. The zero value is valid.
type LimiterOptions struct {
	// Prefix namespaces every key the limiter writes; "" means "bulwark:".
	// With Redis Cluster, put a hash tag in it ("{bulwark}:"): a
	// reservation touches several scopes in one script, so all of them must
	// live in one slot.
	Prefix string
	// Lease is how long an unsettled reservation holds its concurrency
	// slot; 0 means limit.DefaultLease.
	Lease time.Duration
	// Now, if set, is the clock; nil means the Redis server's TIME, which
	// every replica shares, so replicas' clock skew does not matter. Tests
	// set it to drive time without sleeping.
	Now func() time.Time
}

// Limiter is the scaled-out limiter: every replica runs one against the
// same Redis and they enforce one set of limits. Each Reserve, Commit and
// Cancel is one EVALSHA of a script that reads and writes every scope
// atomically. It is safe for concurrent use.
type Limiter struct {
	c      goredis.UniversalClient
	prefix string
	lease  time.Duration
	now    func() time.Time
}

var (
	_ limit.Limiter    = (*Limiter)(nil)
	_ limit.Pinger     = (*Limiter)(nil)
	_ limit.Reconciler = (*Limiter)(nil)
)

// NewLimiter returns a Limiter over c. The client should be made with
// NewClient, or at least have ContextTimeoutEnabled, so that the caller's
// deadline bounds each call.
func NewLimiter(c goredis.UniversalClient, o LimiterOptions) *Limiter {
	l := &Limiter{c: c, prefix: o.Prefix, lease: o.Lease, now: o.Now}
	if l.prefix == "" {
		l.prefix = "bulwark:"
	}
	if l.lease <= 0 {
		l.lease = limit.DefaultLease
	}
	return l
}

// Ping checks that Redis answers.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := probeWrite(ctx, l.c, l.prefix); err != nil {
		return fmt.Errorf("redis limiter: ping: %w", err)
	}
	return nil
}

// probeWrite checks that Redis takes writes, not only that it answers: a
// server out of memory (maxmemory with noeviction) or a read-only replica
// answers PING but refuses every script, and a fallback that returned to
// it on a PING would fail again at once. It sets a short-lived key.
func probeWrite(ctx context.Context, c goredis.UniversalClient, prefix string) error {
	return c.Set(ctx, prefix+"probe", "1", 10*time.Second).Err()
}

// nowArg is the time argument of a script: "" asks for the server's TIME.
func (l *Limiter) nowArg() string {
	if l.now == nil {
		return ""
	}
	return strconv.FormatInt(l.now().UnixMicro(), 10)
}

func (l *Limiter) markerKey(id string) string { return l.prefix + "res:" + id }

// keys returns the marker key and each scope's requests window, tokens
// window and in-flight set keys.
func (l *Limiter) keys(id string, scopes []limit.Scope) []string {
	keys := make([]string, 0, 1+3*len(scopes))
	keys = append(keys, l.markerKey(id))
	for _, s := range scopes {
		base := l.scopeKey(s)
		keys = append(keys, base+":r", base+":t", base+":c")
	}
	return keys
}

// scopeKey is the stem of scope s's keys: Reserve's windows and in-flight
// set, and Reconcile's windows.
func (l *Limiter) scopeKey(s limit.Scope) string { return l.prefix + "limit:" + s.Kind + ":" + s.ID }

func (l *Limiter) epochKey() string { return l.prefix + "epoch" }

// Epoch implements limit.Reconciler. The epoch is a random id in a key
// with no expiry (<prefix>epoch), set when missing: it lives as long as
// Redis keeps its data, and a Redis restarted empty has none until the
// first Epoch or Reconcile sets a new one. A Redis restored from a
// snapshot or promoted from a replica keeps it with the counts.
func (l *Limiter) Epoch(ctx context.Context) (string, error) {
	e, err := epochScript.Run(ctx, l.c, []string{l.epochKey()}, rand.Text()).Text()
	if err != nil {
		return "", fmt.Errorf("redis limiter: epoch: %w", err)
	}
	return e, nil
}

// Reconcile implements limit.Reconciler with one script over every scope
// of use: local use is added to the slot its age names on Redis's clock,
// so replicas' clock skew does not matter; shared use is added if the
// epoch key no longer holds epoch, a floor per window otherwise. A marker
// kept for two Periods (past which every slot of a retry has left the
// window) makes a retry of an applied id apply nothing.
func (l *Limiter) Reconcile(ctx context.Context, id, epoch string, use []limit.Use) (string, error) {
	keys := make([]string, 0, 2+2*len(use))
	keys = append(keys, l.prefix+"reconcile:"+id, l.epochKey())
	args := []any{l.nowArg(), granularity, limit.WindowSlots, (2 * limit.Period).Milliseconds(), epoch, rand.Text()}
	for _, u := range use {
		if u.Scope.Kind == "" || u.Scope.ID == "" {
			return "", fmt.Errorf("redis limiter: reconcile: %w: scope without a kind or ID", limit.ErrInvalid)
		}
		base := l.scopeKey(u.Scope)
		keys = append(keys, base+":r", base+":t")
		args = append(args, len(u.Slots))
		for _, s := range u.Slots {
			if s.Age < 0 || s.Age >= limit.WindowSlots || s.Local.Requests < 0 || s.Local.Tokens < 0 || s.Shared.Requests < 0 || s.Shared.Tokens < 0 {
				return "", fmt.Errorf("redis limiter: reconcile: %w: slot %+v of %s", limit.ErrInvalid, s, u.Scope)
			}
			args = append(args, s.Age, s.Local.Requests, s.Local.Tokens, s.Shared.Requests, s.Shared.Tokens)
		}
	}
	e, err := reconcileScript.Run(ctx, l.c, keys, args...).Text()
	if err != nil {
		return "", fmt.Errorf("redis limiter: reconcile: %w", err)
	}
	return e, nil
}

func appendLimits(args []any, scopes []limit.Scope) []any {
	for _, s := range scopes {
		args = append(args, s.Limits.RequestsPerMinute, s.Limits.TokensPerMinute, s.Limits.Concurrent)
	}
	return args
}

var granularity = limit.Granularity.Microseconds()

// Reserve implements limit.Limiter.
func (l *Limiter) Reserve(ctx context.Context, scopes []limit.Scope, tokens int) (limit.Reservation, limit.Decision, error) {
	if err := limit.Validate(scopes, tokens); err != nil {
		return nil, limit.Decision{}, err
	}
	return l.reserve(ctx, rand.Text(), scopes, tokens)
}

// reserve reserves as the reservation id. Running it again with the same
// id after it was applied (a retry) applies nothing.
func (l *Limiter) reserve(ctx context.Context, id string, scopes []limit.Scope, tokens int) (limit.Reservation, limit.Decision, error) {
	args := make([]any, 0, 7+3*len(scopes))
	args = append(args, l.nowArg(), id, l.lease.Microseconds(), (l.lease + 2*limit.Period).Milliseconds(),
		granularity, limit.WindowSlots, tokens)
	args = appendLimits(args, scopes)
	out, err := reserveScript.Run(ctx, l.c, l.keys(id, scopes), args...).Slice()
	if err != nil {
		return nil, limit.Decision{}, fmt.Errorf("redis limiter: reserve: %w", err)
	}
	res, err := parseReserve(out, len(scopes))
	if err != nil {
		return nil, limit.Decision{}, fmt.Errorf("redis limiter: reserve: %w", err)
	}
	slot := res.now / granularity
	into := time.Duration(res.now-slot*granularity) * time.Microsecond
	if res.dup {
		// Our own earlier attempt was applied and is in the levels: take it
		// out to report as that attempt would have.
		for i := range res.levels {
			lv := &res.levels[i]
			takeYoungest(&lv.Requests, 1)
			takeYoungest(&lv.Tokens, tokens)
			lv.InFlight = max(lv.InFlight-1, 0)
		}
	}
	d := limit.Decide(scopes, res.levels, tokens, into)
	if d.Allowed != res.allowed {
		if !res.dup {
			return nil, limit.Decision{}, errors.New("redis limiter: reserve: script and limit.Decide disagree")
		}
		d = limit.Decision{Allowed: true, Requests: d.Requests, Tokens: d.Tokens}
	}
	if !res.allowed {
		return nil, d, nil
	}
	return &reservation{l: l, id: id, scopes: append([]limit.Scope(nil), scopes...), tokens: tokens, slot: slot}, d, nil
}

// takeYoungest removes n units from w, youngest first.
func takeYoungest(w *limit.Window, n int) {
	for a := range w.Used {
		t := min(n, w.Used[a])
		w.Used[a] -= t
		if n -= t; n == 0 {
			return
		}
	}
}

// reserveResult is reserve.lua's answer.
type reserveResult struct {
	allowed, dup bool
	now          int64 // microseconds
	levels       []limit.Level
}

func parseReserve(out []any, n int) (reserveResult, error) {
	var res reserveResult
	if len(out) != 3+3*n {
		return res, fmt.Errorf("script returned %d values; want %d", len(out), 3+3*n)
	}
	a, _ := out[0].(int64)
	b, _ := out[1].(int64)
	now, err := parseInt(out[2])
	if err != nil {
		return res, err
	}
	res.allowed, res.dup, res.now = a == 1, b == 1, now
	res.levels = make([]limit.Level, n)
	for i := range res.levels {
		lv := &res.levels[i]
		inFlight, ok := out[3+3*i].(int64)
		if !ok {
			return res, fmt.Errorf("script returned in-flight count %v", out[3+3*i])
		}
		lv.InFlight = int(inFlight)
		if err := parseWindow(&lv.Requests, out[4+3*i]); err != nil {
			return res, err
		}
		if err := parseWindow(&lv.Tokens, out[5+3*i]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// parseWindow adds the age, use pairs in v to w.
func parseWindow(w *limit.Window, v any) error {
	pairs, ok := v.([]any)
	if !ok || len(pairs)%2 != 0 {
		return fmt.Errorf("script returned window %v", v)
	}
	for j := 0; j < len(pairs); j += 2 {
		age, ok1 := pairs[j].(int64)
		used, ok2 := pairs[j+1].(int64)
		if !ok1 || !ok2 || age < 0 || age >= int64(limit.WindowSlots) {
			return fmt.Errorf("script returned window %v", v)
		}
		w.Used[age] += int(used)
	}
	return nil
}

func parseInt(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("script returned %v; want a decimal string", v)
	}
	return strconv.ParseInt(s, 10, 64)
}

// settle runs settle.lua for r.
func (l *Limiter) settle(ctx context.Context, r *reservation, requests, tokens int) error {
	args := make([]any, 0, 7+3*len(r.scopes))
	args = append(args, l.nowArg(), r.id, granularity, limit.WindowSlots, r.slot, requests, tokens)
	args = appendLimits(args, r.scopes)
	return settleScript.Run(ctx, l.c, l.keys(r.id, r.scopes), args...).Err()
}

// reservation is a Limiter reservation. Settling is idempotent in Redis
// (the marker), and settled short-cuts repeats in this process.
type reservation struct {
	l       *Limiter
	id      string
	scopes  []limit.Scope
	tokens  int
	slot    int64 // the slot its use was counted in
	settled atomic.Bool
}

func (r *reservation) ID() string { return r.id }

func (r *reservation) Commit(ctx context.Context, tokens int) error {
	if err := limit.ValidateCommit(tokens); err != nil {
		return err
	}
	return r.settle(ctx, "commit", 0, tokens-r.tokens)
}

func (r *reservation) Cancel(ctx context.Context) error {
	return r.settle(ctx, "cancel", -1, -r.tokens)
}

func (r *reservation) settle(ctx context.Context, op string, requests, tokens int) error {
	if r.settled.Load() {
		return nil
	}
	if err := r.l.settle(ctx, r, requests, tokens); err != nil {
		return fmt.Errorf("redis limiter: %s %s: %w", op, r.id, err)
	}
	r.settled.Store(true)
	return nil
}
