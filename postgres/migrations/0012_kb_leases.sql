-- Ingestion leases: a replica claims a file in progress before ingesting
-- it (rag.Repo.Claim), so that replicas sharing a store ingest each file
-- once, and a file whose replica died is taken over when its lease runs
-- out. Times are the database's clock, so replicas' clocks need not agree.
ALTER TABLE kb_store_files ADD COLUMN lease_owner text NOT NULL DEFAULT '';
ALTER TABLE kb_store_files ADD COLUMN lease_until timestamptz NOT NULL DEFAULT '-infinity';
