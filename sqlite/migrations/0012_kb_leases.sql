-- Ingestion leases: a replica claims a file in progress before ingesting
-- it (rag.Repo.Claim), so that replicas sharing a store ingest each file
-- once, and a file whose replica died is taken over when its lease runs
-- out. lease_until_ns is Unix nanoseconds; 0 is no lease.
ALTER TABLE kb_store_files ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE kb_store_files ADD COLUMN lease_until_ns INTEGER NOT NULL DEFAULT 0;
