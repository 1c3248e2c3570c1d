// Package rag owns Bulwark's knowledge bases: uploaded files, vector stores
// (OpenAI's Files and Vector Stores APIs), the ingestion that turns a file
// into embedded chunks, and hybrid search.
//
// Ingestion is a durable queue: a file attached to a store is a row in
// progress (Repo.Pending) until it completes or fails. Workers (Options.
// Workers) parse and chunk it (rag/parse, rag/chunk), embed the chunks not
// stored yet in batches (Options.BatchInputs) through Bulwark's own
// embedding alias at batch priority (Embedder: the gateway, so retries,
// breakers, fallbacks and adaptive concurrency apply and interactive
// traffic comes first), and store each batch in one transaction. A
// process killed mid-file resumes at the next Start: the chunks stored are
// recognised by index and content hash and not embedded again, and the
// (store, file, index) key makes a chunk impossible to store twice. A
// chunk whose content hash the store holds already (another version of
// the same document) takes that vector instead of being embedded again.
// Where replicas share the repo (Options.Lease), a worker claims a file
// before ingesting it and renews the claim while it works (Repo.Claim),
// so each file is ingested by one replica at a time; every replica looks
// for unclaimed files in progress every lease, so the files of a replica
// that died are taken over when their leases run out, with no restart.
// One file's failure (a parse error, an input the model refuses) fails
// that file alone, with the reason in its last_error; a failure that
// passes (overload, rate limits, an upstream down) is waited out.
//
// Search fuses two rankings by reciprocal rank (k = 60): the query's
// vector against the store's vector index, and its words against the
// keyword index (BM25). Attribute filters apply inside both searches, not
// to their top k. A query that cannot be embedded in time may be answered
// from the keyword index alone, flagged degraded, when the request allows
// it. A file's attributes replaced after it is attached are what the next
// search filters by: the in-memory index's copy is replaced with the
// repo's row, and again when an ingestion of the file that began with the
// old ones ends.
//
// A Repo that is also a VectorRepo (Postgres with pgvector) indexes and
// searches the vectors itself, filters included: the Service then keeps
// no vector index in memory, so that replicas sharing the repo search one
// index and see each other's writes at once.
//
// Invariants: every object belongs to a tenant, and every read and write
// names the tenant (another tenant's object is ErrNotFound); the Repo is
// the source of truth and the in-memory vector index of a store is
// rebuilt from it on first use after a start. rag/ragtest is the
// conformance suite every Repo passes.
//
// rag must not import a backend (sqlite, postgres) or the gateway: app
// wires them in through Repo and Embedder.
package rag
