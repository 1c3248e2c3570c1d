-- Stored Responses API answers (package responses): what
-- previous_response_id continues and GET /v1/responses/{id} reads. input
-- holds the conversation before the answer (JSON array of input items),
-- output the answer's items, response the Response object as returned.
-- They are text, not jsonb: they are read back as they were written, never
-- queried inside. Rows past expires_at are unreadable and purged.

CREATE TABLE responses (
	id         text COLLATE "C" PRIMARY KEY,
	tenant_id  text NOT NULL,
	model      text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	input      text NOT NULL,
	output     text NOT NULL,
	response   text NOT NULL
);
CREATE INDEX responses_expires ON responses (expires_at);
