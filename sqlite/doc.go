// Package sqlite is the embedded backend: one SQLite database file in the
// data directory, opened with a pure-Go driver (no cgo) in WAL mode, with
// foreign keys enforced and a busy timeout so that concurrent writers wait
// rather than fail.
//
// A *DB implements the domain stores: tenant.Store (tenants.go),
// tenant.Auditor (audit.go) and usage.Ledger (usage.go), and keeps budgets
// (budgets.go: admin.BudgetStore, tenant.BudgetLister) and drift baselines
// (drift.go: drift.BaselineStore, the snapshot as JSON). Each domain has
// its own file and its own migrations (migrations/0001_tenants.sql, …).
// Migrations are embedded in the binary, numbered, never edited once
// released, and applied in one transaction when the database is opened;
// schema_migrations records which ones ran. A database migrated by a newer
// binary is refused rather than misread.
// backup.go takes an online snapshot (VACUUM INTO) of a database another
// process is writing, and inspects a copy without migrating it, for
// package backup.
//
// Invariants: the keys table holds the SHA-256 of each secret (a CHECK
// constraint admits only 64 lowercase hex digits), never a secret. Times are
// stored as fixed-width RFC 3339 text in UTC with nanoseconds, so they sort
// as text and round-trip exactly.
//
// This package imports domain packages (tenant) and the driver; it must not
// import the HTTP layer, the gateway or vendor packages.
package sqlite
