package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/reqlog"
)

var _ reqlog.Store = (*DB)(nil)

// AppendRequests implements reqlog.Store: one transaction, a record whose
// ID is stored already is skipped.
func (db *DB) AppendRequests(ctx context.Context, recs []reqlog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	type row struct {
		attempts string
		content  sql.NullString
		tools    sql.NullString
		guards   sql.NullString
	}
	rows := make([]row, len(recs))
	for i := range recs {
		r := &recs[i]
		if err := r.Validate(); err != nil {
			return opError("append request log", err)
		}
		a, c, err := encodeRequestJSON(r)
		if err != nil {
			return opError("append request log", err)
		}
		rows[i].attempts = a
		if r.Tools != nil {
			b, err := json.Marshal(r.Tools)
			if err != nil {
				return opError("append request log", err)
			}
			rows[i].tools = sql.NullString{String: string(b), Valid: true}
		}
		if len(r.Guardrails) > 0 {
			b, err := json.Marshal(r.Guardrails)
			if err != nil {
				return opError("append request log", err)
			}
			rows[i].guards = sql.NullString{String: string(b), Valid: true}
		}
		if c != "" {
			rows[i].content = sql.NullString{String: c, Valid: true}
		}
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return opError("append request log", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO request_log
	(id, time, request_id, tenant_id, key_id, alias, target, operation, stream, status, error_type,
	 latency_ns, overhead_ns, ttft_ns, prompt_tokens, completion_tokens, usage_counted, finish_reason, attempts, content, tools, guardrails)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return opError("append request log", err)
	}
	defer stmt.Close()
	for i, r := range recs {
		if _, err := stmt.ExecContext(ctx, r.ID, formatTime(r.Time), r.RequestID, r.TenantID, r.KeyID, r.Alias,
			r.Target, r.Operation, r.Stream, r.Status, r.ErrorType, int64(r.Latency), int64(r.Overhead),
			int64(r.TimeToFirstToken), r.PromptTokens, r.CompletionTokens, r.UsageCounted, r.FinishReason,
			rows[i].attempts, rows[i].content, rows[i].tools, rows[i].guards); err != nil {
			return opError("append request log", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return opError("append request log", err)
	}
	return nil
}

// encodeRequestJSON returns the JSON of a record's attempts and of its
// content ("" when it has none).
func encodeRequestJSON(r *reqlog.Record) (attempts, content string, err error) {
	as := r.Attempts
	if as == nil {
		as = []reqlog.Attempt{}
	}
	b, err := json.Marshal(as)
	if err != nil {
		return "", "", err
	}
	if r.Content == nil {
		return string(b), "", nil
	}
	c, err := json.Marshal(r.Content)
	if err != nil {
		return "", "", err
	}
	return string(b), string(c), nil
}

// decodeRequestJSON fills in a record's attempts and content from their
// JSON.
func decodeRequestJSON(r *reqlog.Record, attempts []byte, content []byte) error {
	if err := json.Unmarshal(attempts, &r.Attempts); err != nil {
		return opError("stored attempts", err)
	}
	if len(r.Attempts) == 0 {
		r.Attempts = nil
	}
	if content != nil {
		r.Content = new(reqlog.Content)
		if err := json.Unmarshal(content, r.Content); err != nil {
			return opError("stored content", err)
		}
	}
	return nil
}

const requestColumns = `id, time, request_id, tenant_id, key_id, alias, target, operation, stream, status,
	error_type, latency_ns, overhead_ns, ttft_ns, prompt_tokens, completion_tokens, usage_counted, finish_reason, attempts, tools, guardrails`

// scanRequest reads a row of requestColumns (and content, when withContent).
func scanRequest(rows interface{ Scan(...any) error }, withContent bool) (reqlog.Record, error) {
	var r reqlog.Record
	var at string
	var latency, overhead, ttft int64
	var attempts []byte
	var content, tools, guards sql.NullString
	dest := []any{&r.ID, &at, &r.RequestID, &r.TenantID, &r.KeyID, &r.Alias, &r.Target, &r.Operation, &r.Stream,
		&r.Status, &r.ErrorType, &latency, &overhead, &ttft, &r.PromptTokens, &r.CompletionTokens, &r.UsageCounted, &r.FinishReason, &attempts, &tools, &guards}
	if withContent {
		dest = append(dest, &content)
	}
	if err := rows.Scan(dest...); err != nil {
		return r, err
	}
	var err error
	if r.Time, err = parseTime(at); err != nil {
		return r, err
	}
	r.Latency, r.Overhead, r.TimeToFirstToken = time.Duration(latency), time.Duration(overhead), time.Duration(ttft)
	if tools.Valid {
		r.Tools = new(reqlog.Tools)
		if err := json.Unmarshal([]byte(tools.String), r.Tools); err != nil {
			return r, opError("stored tools", err)
		}
	}
	if guards.Valid {
		if err := json.Unmarshal([]byte(guards.String), &r.Guardrails); err != nil {
			return r, opError("stored guardrails", err)
		}
		if len(r.Guardrails) == 0 {
			r.Guardrails = nil
		}
	}
	var c []byte
	if content.Valid {
		c = []byte(content.String)
	}
	return r, decodeRequestJSON(&r, attempts, c)
}

// Requests implements reqlog.Store.
func (db *DB) Requests(ctx context.Context, f reqlog.Filter) ([]reqlog.Record, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	cond := func(c string, a ...any) {
		where = append(where, c)
		args = append(args, a...)
	}
	if f.Tenant != "" {
		cond("tenant_id = ?", f.Tenant)
	}
	if f.Alias != "" {
		cond("alias = ?", f.Alias)
	}
	if f.Status != 0 {
		cond("status = ?", f.Status)
	}
	switch f.Result {
	case "":
	case reqlog.ResultOK:
		cond("error_type = ''")
	case reqlog.ResultError:
		cond("error_type <> ''")
	default:
		cond("error_type = ?", f.Result)
	}
	if !f.Since.IsZero() {
		cond("time >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		cond("time < ?", formatTime(f.Until))
	}
	if c := f.After; c != nil {
		t := formatTime(c.Time)
		cond("(time < ? OR (time = ? AND id < ?))", t, t, c.ID)
	}
	q := "SELECT " + requestColumns + " FROM request_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time DESC, id DESC LIMIT ?"
	args = append(args, f.PageLimit())
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, opError("query request log", err)
	}
	defer rows.Close()
	out := []reqlog.Record{}
	for rows.Next() {
		r, err := scanRequest(rows, false)
		if err != nil {
			return nil, opError("query request log", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("query request log", err)
	}
	return out, nil
}

// RequestByID implements reqlog.Store.
func (db *DB) RequestByID(ctx context.Context, tenant, requestID string) (reqlog.Record, error) {
	row := db.db.QueryRowContext(ctx, "SELECT "+requestColumns+`, content FROM request_log
	WHERE (request_id = ? OR id = ?) AND (? = '' OR tenant_id = ?) ORDER BY request_id = ? DESC, time DESC, id DESC LIMIT 1`,
		requestID, requestID, tenant, tenant, requestID)
	r, err := scanRequest(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return reqlog.Record{}, reqlog.ErrNotFound
	}
	if err != nil {
		return reqlog.Record{}, opError("read request log", err)
	}
	return r, nil
}

// PruneRequests implements reqlog.Store.
func (db *DB) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.db.ExecContext(ctx, "DELETE FROM request_log WHERE time < ?", formatTime(before))
	if err != nil {
		return 0, opError("prune request log", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, opError("prune request log", err)
	}
	return n, nil
}
