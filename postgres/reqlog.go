package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/reqlog"
)

var _ reqlog.Store = (*DB)(nil)

// AppendRequests implements reqlog.Store: one statement over arrays of
// the records' fields, so a batch costs one round trip; a record whose ID
// is stored already is skipped.
func (db *DB) AppendRequests(ctx context.Context, recs []reqlog.Record) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	ids, times, requestIDs := make([]string, n), make([]int64, n), make([]string, n)
	tenants, keys, aliases, targets := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ops, stream, status, errTypes := make([]string, n), make([]bool, n), make([]int32, n), make([]string, n)
	latency, overhead, ttft := make([]int64, n), make([]int64, n), make([]int64, n)
	prompt, completion, finish := make([]int64, n), make([]int64, n), make([]string, n)
	counted := make([]bool, n)
	attempts, content, tools := make([]string, n), make([]*string, n), make([]*string, n)
	guards := make([]*string, n)
	for i := range recs {
		r := &recs[i]
		if err := r.Validate(); err != nil {
			return opError("append request log", err)
		}
		as := r.Attempts
		if as == nil {
			as = []reqlog.Attempt{}
		}
		b, err := json.Marshal(as)
		if err != nil {
			return opError("append request log", err)
		}
		attempts[i] = string(b)
		if r.Content != nil {
			c, err := json.Marshal(r.Content)
			if err != nil {
				return opError("append request log", err)
			}
			s := string(c)
			content[i] = &s
		}
		if r.Tools != nil {
			b, err := json.Marshal(r.Tools)
			if err != nil {
				return opError("append request log", err)
			}
			s := string(b)
			tools[i] = &s
		}
		if len(r.Guardrails) > 0 {
			b, err := json.Marshal(r.Guardrails)
			if err != nil {
				return opError("append request log", err)
			}
			s := string(b)
			guards[i] = &s
		}
		ids[i], times[i], requestIDs[i] = r.ID, unixNano(r.Time), r.RequestID
		tenants[i], keys[i], aliases[i], targets[i] = r.TenantID, r.KeyID, r.Alias, r.Target
		ops[i], stream[i], status[i], errTypes[i] = r.Operation, r.Stream, int32(r.Status), r.ErrorType
		latency[i], overhead[i], ttft[i] = int64(r.Latency), int64(r.Overhead), int64(r.TimeToFirstToken)
		prompt[i], completion[i], finish[i] = r.PromptTokens, r.CompletionTokens, r.FinishReason
		counted[i] = r.UsageCounted
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO request_log
	(id, time_ns, request_id, tenant_id, key_id, alias, target, operation, stream, status, error_type,
	 latency_ns, overhead_ns, ttft_ns, prompt_tokens, completion_tokens, finish_reason, attempts, content, usage_counted, tools, guardrails)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::boolean[], $10::integer[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[],
		$15::bigint[], $16::bigint[], $17::text[], $18::jsonb[], $19::jsonb[], $20::boolean[], $21::jsonb[], $22::jsonb[])
	ON CONFLICT (id) DO NOTHING`,
		ids, times, requestIDs, tenants, keys, aliases, targets, ops, stream, status, errTypes,
		latency, overhead, ttft, prompt, completion, finish, attempts, content, counted, tools, guards)
	if err != nil {
		return opError("append request log", err)
	}
	return nil
}

const requestColumns = `id, time_ns, request_id, tenant_id, key_id, alias, target, operation, stream, status,
	error_type, latency_ns, overhead_ns, ttft_ns, prompt_tokens, completion_tokens, usage_counted, finish_reason, attempts::text, tools::text, guardrails::text`

// scanRequest reads a row of requestColumns (and content, when
// withContent).
func scanRequest(row pgx.Row, withContent bool) (reqlog.Record, error) {
	var r reqlog.Record
	var at, latency, overhead, ttft int64
	var status int32
	var attempts string
	var content, tools, guards *string
	dest := []any{&r.ID, &at, &r.RequestID, &r.TenantID, &r.KeyID, &r.Alias, &r.Target, &r.Operation, &r.Stream,
		&status, &r.ErrorType, &latency, &overhead, &ttft, &r.PromptTokens, &r.CompletionTokens, &r.UsageCounted, &r.FinishReason, &attempts, &tools, &guards}
	if withContent {
		dest = append(dest, &content)
	}
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	r.Time, r.Status = fromUnixNano(at), int(status)
	r.Latency, r.Overhead, r.TimeToFirstToken = time.Duration(latency), time.Duration(overhead), time.Duration(ttft)
	if err := json.Unmarshal([]byte(attempts), &r.Attempts); err != nil {
		return r, opError("stored attempts", err)
	}
	if len(r.Attempts) == 0 {
		r.Attempts = nil
	}
	if content != nil {
		r.Content = new(reqlog.Content)
		if err := json.Unmarshal([]byte(*content), r.Content); err != nil {
			return r, opError("stored content", err)
		}
	}
	if tools != nil {
		r.Tools = new(reqlog.Tools)
		if err := json.Unmarshal([]byte(*tools), r.Tools); err != nil {
			return r, opError("stored tools", err)
		}
	}
	if guards != nil {
		if err := json.Unmarshal([]byte(*guards), &r.Guardrails); err != nil {
			return r, opError("stored guardrails", err)
		}
		if len(r.Guardrails) == 0 {
			r.Guardrails = nil
		}
	}
	return r, nil
}

// Requests implements reqlog.Store.
func (db *DB) Requests(ctx context.Context, f reqlog.Filter) ([]reqlog.Record, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Tenant != "" {
		where = append(where, "tenant_id = "+arg(f.Tenant))
	}
	if f.Alias != "" {
		where = append(where, "alias = "+arg(f.Alias))
	}
	if f.Status != 0 {
		where = append(where, "status = "+arg(int32(f.Status)))
	}
	switch f.Result {
	case "":
	case reqlog.ResultOK:
		where = append(where, "error_type = ''")
	case reqlog.ResultError:
		where = append(where, "error_type <> ''")
	default:
		where = append(where, "error_type = "+arg(f.Result))
	}
	if !f.Since.IsZero() {
		where = append(where, "time_ns >= "+arg(unixNano(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "time_ns < "+arg(unixNano(f.Until)))
	}
	if c := f.After; c != nil {
		where = append(where, "(time_ns, id) < ("+arg(unixNano(c.Time))+", "+arg(c.ID)+")")
	}
	q := "SELECT " + requestColumns + " FROM request_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time_ns DESC, id DESC LIMIT " + arg(f.PageLimit())
	rows, err := db.pool.Query(ctx, q, args...)
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
	if err := db.open(ctx); err != nil {
		return reqlog.Record{}, err
	}
	row := db.pool.QueryRow(ctx, "SELECT "+requestColumns+`, content::text FROM request_log
	WHERE (request_id = $1 OR id = $1) AND ($2 = '' OR tenant_id = $2) ORDER BY request_id = $1 DESC, time_ns DESC, id DESC LIMIT 1`,
		requestID, tenant)
	r, err := scanRequest(row, true)
	if errors.Is(err, pgx.ErrNoRows) {
		return reqlog.Record{}, reqlog.ErrNotFound
	}
	if err != nil {
		return reqlog.Record{}, opError("read request log", err)
	}
	return r, nil
}

// PruneRequests implements reqlog.Store.
func (db *DB) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM request_log WHERE time_ns < $1", unixNano(before))
	if err != nil {
		return 0, opError("prune request log", err)
	}
	return tag.RowsAffected(), nil
}
