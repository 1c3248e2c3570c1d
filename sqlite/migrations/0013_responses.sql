-- Stored Responses API answers (package responses): what
-- previous_response_id continues and GET /v1/responses/{id} reads. input
-- holds the conversation before the answer (JSON array of input items),
-- output the answer's items, response the Response object as returned.
-- Rows past expires_at are unreadable and purged.

CREATE TABLE responses (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	model      TEXT NOT NULL,
	created_at TEXT NOT NULL, -- fixed-width RFC 3339 in UTC
	expires_at TEXT NOT NULL,
	input      TEXT NOT NULL,
	output     TEXT NOT NULL,
	response   TEXT NOT NULL
) STRICT;
CREATE INDEX responses_expires ON responses (expires_at);
