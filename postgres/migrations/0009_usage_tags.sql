-- The request's tags (its key's over its tenant's) on each usage record,
-- so that usage can be grouped by a tag.

ALTER TABLE usage_records ADD COLUMN tags jsonb NOT NULL DEFAULT '{}';
