-- What a grounded alias's knowledge search added to a request: its time,
-- the chunks given to the model and the prompt tokens they added
-- (gateway/ground.go). Zero for requests that were not grounded.
ALTER TABLE usage_records ADD COLUMN retrieval_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN retrieval_chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN retrieval_tokens INTEGER NOT NULL DEFAULT 0;
