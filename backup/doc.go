// Package backup owns the embedded shape's backup archive: Create writes
// one consistent, checksummed archive of a data directory while a
// `bulwark serve` on it keeps serving writes, Verify checks one, and
// Restore rebuilds a data directory from one.
//
// # What an archive holds
//
// An archive is a gzip-compressed tar (readable with tar -xzf) whose gzip
// header carries the SHA-256 of every byte after it, and whose first entry is MANIFEST.json
// (Manifest: format version, creation time, Bulwark's version, the
// SQLite schema version, and the size and SHA-256 of every other entry),
// followed by:
//
//   - bulwark.db: an online snapshot of the database (sqlite.Snapshot,
//     VACUUM INTO) — tenants, keys (their hashes), budgets, the usage
//     ledger, the request log, drift baselines, uploaded files, vector
//     stores, their files and chunks with their vectors;
//   - usage-spill/*.jsonl: the usage log's segments (usage's write-ahead
//     log), copied before the snapshot is taken;
//   - admin.key, when the data directory holds one: the bootstrap admin
//     secret. The archive is as secret as the data directory.
//
// Vector indexes (<data_dir>/vectors/*.idx) are left out on purpose. They
// are a cache: the database is the source of truth (see package rag),
// the server writes them only when it stops, so while it serves they are
// older than the database, and a restored server rebuilds each store's
// index from the database on the store's first search. Carrying them
// would only add a way to be wrong — a saved index whose keys the
// restored database later reuses for other chunks.
//
// # Consistency
//
// Every usage record a running server acknowledged before Create began
// is in the archive exactly once: a record is appended to the usage log
// before it is acknowledged and a log segment is removed only once every
// record in it is in the database, so copying the segments first and
// snapshotting the database second finds each record in one or both;
// replay at the restored server's start skips the records the database
// holds already (appends are idempotent by record id). A segment copied
// while being appended to may end in a torn line, which replay skips.
//
// # Restore
//
// Restore reads the archive twice. The first pass verifies it whole —
// the manifest, every entry's size and checksum, no entry missing or
// extra, the gzip trailer — and refuses a corrupt or truncated archive
// (ErrCorrupt) before touching anything. The second pass extracts it into
// a staging directory beside the data directory, verifying again, and
// checks the database's integrity; only then is the staging directory
// renamed into place. A non-empty data directory is refused (ErrNotEmpty)
// unless forced, and then it is moved aside, not deleted.
//
// # Object storage
//
// An s3://bucket/key in place of a path (Options.Out, RestoreOptions.Archive,
// VerifyS3) reads and writes the archive in S3-compatible storage through
// an S3 client (the AWS SDK; settings from S3ConfigFromEnv). Create stages
// the archive locally, uploads it as one multipart upload — the object
// appears only when the upload completes, and a failed upload is aborted,
// so a reader sees the old object or the whole new one — then reads it
// back whole and verifies it as Verify does. Restore downloads it beside
// the data directory first.
//
// A Target is where scheduled backups go (a directory or an s3:// prefix):
// Backup writes bulwark-<UTC time>.tar.gz there, Prune deletes the oldest
// beyond a count and never a file of another name.
//
// # Continuous replication
//
// Replicate streams every transaction of the database to an s3:// prefix
// as it commits, with Litestream (github.com/benbjohnson/litestream, its
// own connection to the database, the same pure-Go SQLite driver): a
// lost machine loses the transactions of the last sync interval (1s by
// default) plus the usage records still in the usage log (flushed into
// the database every second). RestoreReplica rebuilds a data directory
// from the replica, at its latest state or a given time, staged and
// placed like Restore. The replica holds the database alone, not
// admin.key nor the usage log.
//
// This package imports the embedded backend (sqlite) and nothing of the
// HTTP layer or the gateway. Postgres deployments use the database's own
// backups.
package backup
