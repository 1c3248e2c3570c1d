package config

import "time"

// Defaults of the server's protection against slow or stalled clients.
const (
	DefaultReadTimeout    = Duration(60 * time.Second)
	DefaultWriteTimeout   = Duration(60 * time.Second)
	DefaultMaxHeaderBytes = 64 << 10
)

// Timeouts returns the server's read and write timeouts and its header
// size bound, with the defaults for zero values.
func (s Server) Timeouts() (read, write time.Duration, maxHeaderBytes int) {
	read, write, maxHeaderBytes = s.ReadTimeout.D(), s.WriteTimeout.D(), s.MaxHeaderBytes
	if read <= 0 {
		read = DefaultReadTimeout.D()
	}
	if write <= 0 {
		write = DefaultWriteTimeout.D()
	}
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = DefaultMaxHeaderBytes
	}
	return read, write, maxHeaderBytes
}

// HeedsRateLimitHeaders reports whether admission control paces the
// provider's targets by what its answers say of its rate limit (the
// default).
func (p Provider) HeedsRateLimitHeaders() bool {
	return p.RateLimitHeaders == nil || *p.RateLimitHeaders
}

// Capacity configures admission control across the process: how long a
// request without a deadline may queue for a target, and the tenants'
// weights when they compete for one. server.max_inflight and
// server.max_queued bound the process itself.
type Capacity struct {
	// Disabled switches admission control off: every request goes
	// straight to its target (the naive proxy, for comparison).
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
	// MaxWait bounds a wait in a target's queue for a request without a
	// deadline (default 30s).
	MaxWait Duration `yaml:"max_wait" json:"max_wait"`
	// CriticalReserve is the share of server.max_inflight only critical
	// requests may use (default 0.1).
	CriticalReserve float64 `yaml:"critical_reserve" json:"critical_reserve,omitempty"`
	// TenantWeights are tenants' weights in fair sharing, by tenant id
	// (default 1 each).
	TenantWeights map[string]float64 `yaml:"tenant_weights" json:"tenant_weights,omitempty"`
}

// ModelCapacity is the adaptive concurrency limit each target of an alias
// gets. When several aliases route to one target, the first alias's
// settings apply. Zero means the default.
type ModelCapacity struct {
	// InitialLimit, MinLimit and MaxLimit bound the learned limit of
	// concurrent calls (defaults 16, 1, 4096).
	InitialLimit int `yaml:"initial_limit" json:"initial_limit,omitempty"`
	MinLimit     int `yaml:"min_limit" json:"min_limit,omitempty"`
	MaxLimit     int `yaml:"max_limit" json:"max_limit,omitempty"`
	// Queue is how many requests may wait for the target (default 64).
	Queue int `yaml:"queue" json:"queue,omitempty"`
	// CriticalReserve is the share of the limit only critical requests may
	// use (default 0.2).
	CriticalReserve float64 `yaml:"critical_reserve" json:"critical_reserve,omitempty"`
	// LatencyTolerance is how far latency may grow over the best recent
	// latency before the limit shrinks (default 1.5).
	LatencyTolerance float64 `yaml:"latency_tolerance" json:"latency_tolerance,omitempty"`
	// LatencyJitter is a rise in latency that never counts as congestion,
	// however large a share of a short call it is (default 10ms).
	LatencyJitter Duration `yaml:"latency_jitter" json:"latency_jitter,omitempty"`
	// QueueTarget and QueueInterval bound queueing by time (controlled
	// delay): once a tenant's waiters have not run out for the interval,
	// those that waited the target are refused (queue_delay). Defaults:
	// half and twice the recent service time, at least 5ms and 100ms.
	QueueTarget   Duration `yaml:"queue_target" json:"queue_target,omitempty"`
	QueueInterval Duration `yaml:"queue_interval" json:"queue_interval,omitempty"`
}

func (v *validator) capacity(c *Config) {
	v.nonNegative("server.max_inflight", int64(c.Server.MaxInflight))
	v.nonNegative("server.max_queued", int64(c.Server.MaxQueued))
	v.nonNegative("server.max_header_bytes", int64(c.Server.MaxHeaderBytes))
	v.duration("server.read_timeout", c.Server.ReadTimeout)
	v.duration("server.write_timeout", c.Server.WriteTimeout)
	v.duration("server.stream_write_timeout", c.Server.StreamWriteTimeout)
	v.duration("capacity.max_wait", c.Capacity.MaxWait)
	v.share("capacity.critical_reserve", c.Capacity.CriticalReserve)
	for t, w := range c.Capacity.TenantWeights {
		if !(w > 0) {
			v.add(childKey("capacity.tenant_weights", t), "a weight must be positive, got %g", w)
		}
	}
	for i, m := range c.Models {
		path := childIndex("models", i) + ".capacity"
		mc := m.Capacity
		v.nonNegative(path+".initial_limit", int64(mc.InitialLimit))
		v.nonNegative(path+".min_limit", int64(mc.MinLimit))
		v.nonNegative(path+".max_limit", int64(mc.MaxLimit))
		v.nonNegative(path+".queue", int64(mc.Queue))
		if mc.MinLimit > 0 && mc.MaxLimit > 0 && mc.MinLimit > mc.MaxLimit {
			v.add(path+".min_limit", "min_limit %d is above max_limit %d", mc.MinLimit, mc.MaxLimit)
		}
		v.share(path+".critical_reserve", mc.CriticalReserve)
		v.duration(path+".latency_jitter", mc.LatencyJitter)
		v.duration(path+".queue_target", mc.QueueTarget)
		v.duration(path+".queue_interval", mc.QueueInterval)
		if mc.QueueTarget > 0 && mc.QueueInterval > 0 && mc.QueueTarget >= mc.QueueInterval {
			v.add(path+".queue_target", "queue_target %s must be shorter than queue_interval %s", mc.QueueTarget, mc.QueueInterval)
		}
		if mc.LatencyTolerance != 0 && !(mc.LatencyTolerance > 1) {
			v.add(path+".latency_tolerance", "a tolerance is a factor above 1, got %g", mc.LatencyTolerance)
		}
	}
}

// share checks a share of capacity: from 0 to 0.9.
func (v *validator) share(path string, r float64) {
	if !(r >= 0 && r <= 0.9) {
		v.add(path, "a reserved share is from 0 to 0.9, got %g", r)
	}
}
