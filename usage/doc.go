// Package usage owns what Bulwark records about each client request and
// what it costs: the Record (one per client request, never one per
// attempt), the price table (Prices), the Ledger interface that durable
// backends implement, and the Writer that moves records off the request
// path into a Ledger in batches.
//
// # Money
//
// Costs are integer nano-dollars (Nanodollars, 1e-9 US dollars). Floating
// point sums drift, and micro-dollars are too coarse: a short embedding
// request on a cheap model costs a fraction of a micro-dollar and would
// round to nothing. An int64 of nano-dollars holds more than nine billion
// dollars, so a ledger total cannot overflow in practice. Prices are written
// in the config file as US dollars per million tokens (what vendors
// publish), over a built-in list of vendors' prices read from their own
// pages (pricelist.go, PricesTaken; NewDefaultPrices), and are converted
// once, when the table is built, to integer
// micro-dollars per million tokens (exact for any price with up to six
// decimal places); every cost is then computed in integer arithmetic and
// rounded once, to the nearest nano-dollar, per request.
//
// # Billing rule
//
// A request is billed for the upstream calls that answered it, each
// priced by its own target: the attempt that answered, and for a stream
// that broke after its first content and was continued
// (stream_recovery: continue), each call that continued it, its usage
// being the sum of its calls. Failed attempts are never billed, whether or
// not a later attempt succeeded; a request no upstream answered costs 0.
// A call is billed for the usage the upstream reported for it. A stream
// call that broke after its content reached the client without reporting
// usage (a plain broken stream, the broken first call of a continued
// stream, a continuation that broke in turn) is billed instead for the
// tokens Bulwark counts of it, since tokens the client received are tokens
// the upstream charges for: its prompt, counted with package tokens'
// tokenizer for the call's target (a continuation's prompt holds the text
// so far), and the text the client received from that call. Such a record
// has UsageCounted set. Otherwise Bulwark never estimates usage to bill
// it: a call that ended properly without reporting usage is billed for
// none. A response served from Bulwark's own cache costs 0 and is
// recorded with CacheHit set. Prices.Cost applies the table; the caller
// decides which usage to pass it according to this rule.
//
// # Idempotency
//
// Every Record carries an ID that Bulwark generates (the Writer fills it in
// when it is empty). Ledgers store a record at most once per ID, so replaying
// a spill file after a crash or a partial failure never counts a request
// twice. The request id is stored too, for correlation, but is not the
// idempotency key: clients may choose their own X-Request-Id, and a reused
// one must not erase the usage of the requests that reuse it.
//
// # Budgets (budget*.go)
//
// A Budget is an amount of Nanodollars a tenant or a key may spend per UTC
// calendar day or month; a hard budget refuses a request (*BudgetError,
// 429 budget_exceeded with Retry-After until the period resets), a soft
// one serves it and reports the overage (BudgetDecision.Over, and Warn
// once per period and budget). Budgets are enforced with reservations,
// like rate limits: at admission the gateway reserves the request's
// worst-case cost in every budget that applies, all or nothing, and the
// reservation is refused if spent + reserved + cost would exceed a hard
// amount (DecideBudget, the rule every backend applies); at the end it
// commits what the request actually cost by the billing rule, or cancels
// (a request no upstream answered costs nothing). As long as no request
// costs more than it reserved, concurrent requests never take spending
// over a hard budget; one that does (a client without max_tokens whose
// answer runs long) overshoots by its own excess only.
//
// Backends (Budgets): MemoryBudgets for one process; redis.Budgets, shared
// by every replica, one script per call; BudgetFallback, which serves from
// local counters (a Share of each budget's headroom) while Redis is
// unreachable, as limit.Fallback does for limits. Each period's spending
// is seeded from the Ledger the first time a budget is used in it
// (LedgerSpent: the sum of Record.Cost since the period began), so a
// restart, or a Redis that lost its data, does not reset it; records the
// Writer has not flushed yet are missed by a seed. A reservation holds its
// cost for DefaultBudgetLease and is then released (its replica crashed);
// settling is idempotent by reservation id. Amounts are at most MaxBudget
// ($9,000,000), so every comparison is exact in every backend.
// budgettest.Run is the conformance suite of Budgets, budgettest.RunStore
// that of the stores that keep budgets.
//
// # Invariants
//
//   - A Ledger's Query with Filter.Tenant set sees only that tenant's rows.
//   - Writer.Add never blocks on the ledger, and returns only once its
//     record is in the Writer's local log (a JSON-lines write-ahead log in
//     a directory the Writer owns; synced at once with Sync, else within a
//     flush interval): the gateway adds
//     a request's record before its answer completes, so an answered
//     request is billed whatever happens to the process next. Records the
//     ledger does not take from memory (it fails, or the queue is full)
//     are replayed from the log when it accepts appends again.
//   - Nothing accepted by Add is lost across Close or a crash: segments
//     the ledger does not hold all of are replayed by the next Writer over
//     the same directory, idempotently.
//
// This package imports only the standard library, llm (for llm.Usage) and
// resilience (Outage, for BudgetFallback).
// It must not import backends (sqlite, postgres, redis), the HTTP layer or
// the gateway: backends implement Ledger and pass usagetest.Run, and only
// app wires them.
package usage
