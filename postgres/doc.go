// Package postgres is the scaled-out backend: state shared by every
// replica lives in one Postgres database, reached through a pgx connection
// pool.
//
// A *DB implements the domain stores: tenant.Store (tenants.go),
// tenant.Auditor (audit.go) and usage.Ledger (usage.go), and keeps budgets
// (budgets.go: admin.BudgetStore, tenant.BudgetLister) and drift baselines
// (drift.go: drift.BaselineStore, the snapshot as jsonb), and the
// knowledge bases (kb.go, kb_ingest.go: rag.Repo; with pgvector,
// kb_vector.go's VectorDB is also rag.VectorRepo: vector search with an
// HNSW index and keyword search on a tsvector, attribute filters compiled
// to SQL in kb_filter.go). Migrations are embedded in the binary, numbered,
// never edited once released, and applied in one transaction when the
// database is opened, under a transaction-scoped advisory lock so that N
// replicas starting at once apply them exactly once; schema_migrations
// records which ones ran, and a database migrated by a newer binary is
// refused. Tables live in the first schema of the connection's search_path,
// so one database can hold several deployments (and tests run in parallel,
// one schema each).
//
// Open fails on a connection string, credentials, database or schema it
// cannot use, but not on a server it cannot reach: the DB then connects
// and migrates at the first call that reaches the server (at most one
// attempt a second), every call failing with the connection error until
// then, so that a replica starts, and its usage spill replays, while
// Postgres is down.
//
// Key changes are broadcast with NOTIFY in the transaction that makes
// them, on a channel named for the schema; ListenKeys turns them into a
// callback (a Keyring reload) on every replica, reconnecting on failure.
//
// Invariants: the keys table holds the SHA-256 of each secret (a CHECK
// constraint admits only 64 lowercase hex digits), never a secret. Tenant
// and key times are Unix nanoseconds (bigint): timestamptz keeps only
// microseconds and the tenant.Store contract is an exact round trip. Usage
// times are timestamptz: the ledger is aggregated, never read back record by
// record, and native timestamps make day grouping and range scans cheap.
//
// This package imports domain packages (tenant, usage, drift) and pgx; it must not
// import the HTTP layer, the gateway or vendor packages. Only app wires it.
package postgres
