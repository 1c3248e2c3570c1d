package config

import (
	"maps"
	"slices"
)

// RedactedValue replaces a secret in a Config returned by Redacted.
const RedactedValue = "[redacted]"

// Redacted returns a deep copy of c fit for printing: every provider's
// api_key and header values, the store URL, the limiter's Redis URL and
// the tracing exporter's header values are replaced with RedactedValue (an
// empty value stays empty, so the copy still shows whether it is set). c
// is not changed.
func (c *Config) Redacted() *Config {
	r := c.clone()
	for name, p := range r.Providers {
		if p.APIKey != "" {
			p.APIKey = RedactedValue
		}
		for h := range p.Headers {
			p.Headers[h] = RedactedValue
		}
		r.Providers[name] = p
	}
	if r.Store.URL != "" {
		r.Store.URL = RedactedValue
	}
	if r.Limits.RedisURL != "" {
		r.Limits.RedisURL = RedactedValue
	}
	for h := range r.Telemetry.Tracing.Headers {
		r.Telemetry.Tracing.Headers[h] = RedactedValue
	}
	r.Webhooks = slices.Clone(c.Webhooks)
	for i := range r.Webhooks {
		if r.Webhooks[i].Secret != "" {
			r.Webhooks[i].Secret = RedactedValue
		}
	}
	return r
}

// clone returns a deep copy of c.
func (c *Config) clone() *Config {
	r := *c
	if c.Providers != nil {
		r.Providers = make(map[string]Provider, len(c.Providers))
		for name, p := range c.Providers {
			p.Headers = maps.Clone(p.Headers)
			if p.SimModels != nil {
				sims := make(map[string]SimModel, len(p.SimModels))
				for m, s := range p.SimModels {
					s.Faults.ErrorRates = maps.Clone(s.Faults.ErrorRates)
					sims[m] = s
				}
				p.SimModels = sims
			}
			r.Providers[name] = p
		}
	}
	r.Telemetry.Tracing.Headers = maps.Clone(c.Telemetry.Tracing.Headers)
	r.Prices = maps.Clone(c.Prices)
	if c.Models != nil {
		r.Models = make([]Model, len(c.Models))
		for i, m := range c.Models {
			m.Targets = slices.Clone(m.Targets)
			m.Fallbacks = slices.Clone(m.Fallbacks)
			r.Models[i] = m
		}
	}
	return &r
}
