-- Whether a record's tokens are what Bulwark counted rather than what the
-- upstream reported: a stream call that broke without reporting usage is
-- billed for the tokens counted of its prompt and of the text the client
-- received (usage/doc.go, the billing rule). On the usage ledger and on
-- the request log.

ALTER TABLE usage_records ADD COLUMN usage_counted INTEGER NOT NULL DEFAULT 0 CHECK (usage_counted IN (0, 1));
ALTER TABLE request_log ADD COLUMN usage_counted INTEGER NOT NULL DEFAULT 0 CHECK (usage_counted IN (0, 1));
