// Package app is Bulwark's composition root: the only package that imports
// backends (sqlite, …) and vendors (llm/openai, llm/sim, …). It builds the
// object graph from config by hand, owns start, drain and stop, and
// hot-reloads the config: a reload builds the new world completely (the
// providers and the routing table) and swaps it in atomically; a reload
// that fails keeps the old world serving and says why.
//
// Providers whose configuration did not change are carried over to the new
// world as they are, so a reload keeps their connection pools and a
// simulator keeps the faults a game day injected at runtime.
package app
