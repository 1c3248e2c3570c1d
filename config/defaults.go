package config

import "time"

// Defaults of the fields whose zero value means "the default".
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultDataDir           = "./bulwark-data"
	DefaultMaxBodyBytes      = 8 << 20
	DefaultReadHeaderTimeout = Duration(10 * time.Second)
	DefaultIdleTimeout       = Duration(120 * time.Second)
	DefaultShutdownGrace     = Duration(30 * time.Second)
	DefaultRequestTimeout    = Duration(10 * time.Minute)
	DefaultConnectTimeout    = Duration(10 * time.Second)

	// BuiltinSim is the name of the built-in simulator provider, and
	// SimChat and SimEmbed the built-in simulated models it serves.
	BuiltinSim = "sim"
	SimChat    = "sim-chat"
	SimEmbed   = "sim-embed"
	// BuiltinLocal is the provider of the embedding model built into the
	// binary, LocalEmbed its alias and LocalModel the model it serves.
	BuiltinLocal = "local"
	LocalEmbed   = "local-embed"
	LocalModel   = "bulwark-glove-sif-99d"
)

// DefaultSimModels are the built-in simulated models: a chat model with
// realistic (short) latencies and an embedding model.
func DefaultSimModels() map[string]SimModel {
	return map[string]SimModel{
		SimChat: {
			Kind:          "chat",
			TTFT:          Latency{P50: Duration(80 * time.Millisecond), P99: Duration(300 * time.Millisecond)},
			ITL:           Latency{P50: Duration(8 * time.Millisecond), P99: Duration(30 * time.Millisecond)},
			OutputTokens:  Range{Min: 16, Max: 64},
			ContextWindow: 16384,
		},
		SimEmbed: {
			Kind:          "embedding",
			TTFT:          Latency{P50: Duration(10 * time.Millisecond), P99: Duration(40 * time.Millisecond)},
			ContextWindow: 8192,
			Dimensions:    256,
		},
	}
}

// Default returns the configuration Bulwark runs with when no file is
// given: the built-in simulator and its two models, every default filled
// in.
func Default() *Config {
	c := &Config{}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults fills every zero field with its default and adds the
// built-in simulator provider and aliases unless the file disables them or
// defines its own of the same name.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	s := &c.Server
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.ShutdownGrace == 0 {
		s.ShutdownGrace = DefaultShutdownGrace
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = DefaultRequestTimeout
	}
	for name, p := range c.Providers {
		if p.ConnectTimeout == 0 {
			p.ConnectTimeout = DefaultConnectTimeout
		}
		if p.Type == ProviderSim && p.Seed == 0 {
			p.Seed = 1
		}
		c.Providers[name] = p
	}
	defer c.Knowledge.applyDefaults(c)
	defer c.addLocalEmbed() // after the sim's aliases, before the knowledge bases pick theirs
	if c.DisableBuiltinSim {
		return
	}
	if c.Providers == nil {
		c.Providers = map[string]Provider{}
	}
	if _, ok := c.Providers[BuiltinSim]; !ok {
		c.Providers[BuiltinSim] = Provider{Type: ProviderSim, Seed: 1, ConnectTimeout: DefaultConnectTimeout, SimModels: DefaultSimModels()}
	}
	sim := c.Providers[BuiltinSim]
	for _, name := range []string{SimChat, SimEmbed} {
		// A file's own "sim" provider replaces the built-in one; the built-in
		// aliases are added only when it still serves their models.
		_, served := sim.SimModels[name]
		if sim.Type == ProviderSim && served && c.model(name) == nil {
			c.Models = append(c.Models, Model{Name: name, Targets: []Target{{Provider: BuiltinSim, Model: name, Weight: 1}}})
		}
	}
}

func (c *Config) model(name string) *Model {
	for i := range c.Models {
		if c.Models[i].Name == name {
			return &c.Models[i]
		}
	}
	return nil
}

// addLocalEmbed adds the built-in embedding model's provider and alias
// (local-embed), unless the file names a provider "local" of another
// type or its own alias of that name. It is always present: knowledge
// bases embed with it when nothing else is configured.
func (c *Config) addLocalEmbed() {
	if p, ok := c.Providers[BuiltinLocal]; ok && p.Type != ProviderLocal {
		return
	}
	if c.Providers == nil {
		c.Providers = map[string]Provider{}
	}
	if _, ok := c.Providers[BuiltinLocal]; !ok {
		c.Providers[BuiltinLocal] = Provider{Type: ProviderLocal, ConnectTimeout: DefaultConnectTimeout}
	}
	if c.model(LocalEmbed) == nil {
		c.Models = append(c.Models, Model{Name: LocalEmbed, Targets: []Target{{Provider: BuiltinLocal, Model: LocalModel, Weight: 1}}})
	}
}
