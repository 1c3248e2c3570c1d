-- What the guardrail checks found in a request (reqlog.Record.Guardrails):
-- a JSON array of {stage, check, action}, never the text; NULL when none
-- found anything.
ALTER TABLE request_log ADD COLUMN guardrails TEXT;
