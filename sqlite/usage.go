package sqlite

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

var _ usage.Ledger = (*DB)(nil)

// Append implements usage.Ledger: one transaction, a record whose ID is
// stored already is skipped.
func (db *DB) Append(ctx context.Context, recs []usage.Record) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			return opError("append usage", err)
		}
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return opError("append usage", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO usage_records
	(id, time, request_id, tenant_id, key_id, alias, target, prompt_tokens, completion_tokens, cached_tokens,
	 cost_nanodollars, latency_ns, attempts, status, stream, cache_hit, tags, usage_counted,
	 retrieval_ns, retrieval_chunks, retrieval_tokens)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return opError("append usage", err)
	}
	defer stmt.Close()
	for _, r := range recs {
		tags, err := usageTags(r.Tags)
		if err != nil {
			return opError("append usage", err)
		}
		if _, err := stmt.ExecContext(ctx, r.ID, formatTime(r.Time), r.RequestID, r.TenantID, r.KeyID, r.Alias,
			r.Target, r.PromptTokens, r.CompletionTokens, r.CachedTokens, int64(r.Cost), int64(r.Latency),
			r.Attempts, r.Status, r.Stream, r.CacheHit, tags, r.UsageCounted,
			int64(r.Retrieval), r.RetrievalChunks, r.RetrievalTokens); err != nil {
			return opError("append usage", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return opError("append usage", err)
	}
	return nil
}

// usageTags is the tags column of a record: a JSON object.
func usageTags(tags map[string]string) (string, error) {
	if len(tags) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(tags)
	return string(b), err
}

// usageGroups maps a grouping to its SQL expression. Times are stored as
// UTC RFC 3339 text, so their first ten characters are the UTC day.
var usageGroups = map[usage.Group]string{
	usage.GroupDay:    "substr(time, 1, 10)",
	usage.GroupTenant: "tenant_id",
	usage.GroupKey:    "key_id",
	usage.GroupAlias:  "alias",
}

// Query implements usage.Ledger.
func (db *DB) Query(ctx context.Context, f usage.Filter) ([]usage.Row, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	group, _ := usage.ParseGroup(string(f.GroupBy))
	var where []string
	var args []any
	for _, c := range []struct {
		cond string
		v    string
		set  bool
	}{
		{"tenant_id = ?", f.Tenant, f.Tenant != ""},
		{"key_id = ?", f.KeyID, f.KeyID != ""},
		{"alias = ?", f.Alias, f.Alias != ""},
		{"time >= ?", formatTime(f.From), !f.From.IsZero()},
		{"time < ?", formatTime(f.To), !f.To.IsZero()},
	} {
		if c.set {
			where = append(where, c.cond)
			args = append(args, c.v)
		}
	}
	expr := usageGroups[group]
	if k, ok := group.TagKey(); ok {
		// The tag's value, "" when the record has none; the key is bound,
		// as a JSON path (tag names hold no quote: usage.ValidTagKey).
		expr = "coalesce(json_extract(tags, ?), '')"
		args = append([]any{`$."` + k + `"`}, args...)
	}
	q := "SELECT " + expr + ` AS g, count(*), sum(status <> 'ok'),
	sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), sum(cost_nanodollars),
	sum(retrieval_chunks), sum(retrieval_tokens), sum(retrieval_ns)
	FROM usage_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY g ORDER BY g"
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, opError("query usage", err)
	}
	defer rows.Close()
	out := []usage.Row{}
	for rows.Next() {
		var r usage.Row
		var cost, retrieval int64
		if err := rows.Scan(&r.Group, &r.Requests, &r.Errors, &r.PromptTokens, &r.CompletionTokens,
			&r.CachedTokens, &cost, &r.RetrievalChunks, &r.RetrievalTokens, &retrieval); err != nil {
			return nil, opError("query usage", err)
		}
		r.Cost, r.Retrieval = usage.Nanodollars(cost), time.Duration(retrieval)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("query usage", err)
	}
	return out, nil
}
