-- Rate and concurrency limits of tenants and keys; 0 means no limit.

ALTER TABLE tenants
	ADD COLUMN requests_per_minute integer NOT NULL DEFAULT 0 CHECK (requests_per_minute >= 0),
	ADD COLUMN tokens_per_minute   integer NOT NULL DEFAULT 0 CHECK (tokens_per_minute >= 0),
	ADD COLUMN concurrent          integer NOT NULL DEFAULT 0 CHECK (concurrent >= 0);

ALTER TABLE keys
	ADD COLUMN requests_per_minute integer NOT NULL DEFAULT 0 CHECK (requests_per_minute >= 0),
	ADD COLUMN tokens_per_minute   integer NOT NULL DEFAULT 0 CHECK (tokens_per_minute >= 0),
	ADD COLUMN concurrent          integer NOT NULL DEFAULT 0 CHECK (concurrent >= 0);
