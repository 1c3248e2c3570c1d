// Package app is Bulwark's composition root: the only package that imports
// backends (sqlite, postgres, redis) and vendors (llm/openai, llm/sim, …). It builds the
// object graph from config by hand, owns start, drain and stop, and
// hot-reloads the config: a reload builds the new world completely (the
// providers and the routing table) and swaps it in atomically; a reload
// that fails keeps the old world serving and says why.
//
// Providers whose configuration did not change are carried over to the new
// world as they are, so a reload keeps their connection pools and a
// simulator keeps the faults a game day injected at runtime.
//
// Load metrics (world.go): one loadmetrics.Group, living across reloads
// like admission control, scrapes the providers that set load_metrics in
// the background; each world reconfigures it (unchanged scrapers keep
// running), its reports feed the least_loaded balance policy through
// route.LoadSource and the bulwark_upstream_* gauges at each metrics
// scrape, and Close stops it.
//
// Governance (governance.go): one store, SQLite in the data directory or
// Postgres (store.type), holds tenants, keys and the usage ledger. The
// app reloads the key set every 30 seconds and, on Postgres, whenever any
// replica changes a key (LISTEN/NOTIFY), so a revoked key stops everywhere
// within a second. Usage records go through one usage.Writer that spills
// to <data_dir>/usage-spill while the store is unavailable. Limits are
// enforced by the memory limiter or by Redis behind a limit.Fallback,
// whose degraded state /readyz reports. Close stops these in reverse
// order after the HTTP server has stopped. The store and limiter settings
// take effect at the next start; prices on reload.
//
// Readiness (readyz.go): a prober owned by the app pings the store and,
// when limits use it, Redis every second, each ping bounded by 500ms; the
// first round runs in New. /readyz reports what the probes last found and
// how long ago, so it answers at once even while a dependency hangs, and
// the bulwark_dependency_up gauges say the same. A failed probe of Redis
// moves the limit and budget fallbacks to local enforcement before any
// request has to wait for Redis. Close stops the prober first.
package app
