package postgres

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/usage"
)

var _ usage.Ledger = (*DB)(nil)

// Append implements usage.Ledger: one statement over arrays of the
// records' fields, so a batch costs one round trip; a record whose ID is
// stored already is skipped.
func (db *DB) Append(ctx context.Context, recs []usage.Record) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	ids, times, requestIDs := make([]string, n), make([]time.Time, n), make([]string, n)
	tenants, keys, aliases, targets := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prompt, completion, cached := make([]int64, n), make([]int64, n), make([]int64, n)
	cost, latency, attempts := make([]int64, n), make([]int64, n), make([]int32, n)
	statuses, stream, cacheHit, counted := make([]string, n), make([]bool, n), make([]bool, n), make([]bool, n)
	retrieval, retrievalChunks, retrievalTokens := make([]int64, n), make([]int64, n), make([]int64, n)
	tags := make([]string, n) // JSON objects
	for i, r := range recs {
		if err := r.Validate(); err != nil {
			return opError("append usage", err)
		}
		ids[i], times[i], requestIDs[i] = r.ID, r.Time, r.RequestID
		tenants[i], keys[i], aliases[i], targets[i] = r.TenantID, r.KeyID, r.Alias, r.Target
		prompt[i], completion[i], cached[i] = r.PromptTokens, r.CompletionTokens, r.CachedTokens
		cost[i], latency[i], attempts[i] = int64(r.Cost), int64(r.Latency), int32(min(r.Attempts, math.MaxInt32))
		statuses[i], stream[i], cacheHit[i], counted[i] = r.Status, r.Stream, r.CacheHit, r.UsageCounted
		retrieval[i], retrievalChunks[i], retrievalTokens[i] = int64(r.Retrieval), r.RetrievalChunks, r.RetrievalTokens
		tags[i] = "{}"
		if len(r.Tags) > 0 {
			b, err := json.Marshal(r.Tags)
			if err != nil {
				return opError("append usage", err)
			}
			tags[i] = string(b)
		}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO usage_records
	(id, time, request_id, tenant_id, key_id, alias, target, prompt_tokens, completion_tokens, cached_tokens,
	 cost_nanodollars, latency_ns, attempts, status, stream, cache_hit, tags, usage_counted,
	 retrieval_ns, retrieval_chunks, retrieval_tokens)
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::integer[], $14::text[],
		$15::boolean[], $16::boolean[], $17::text[]::jsonb[], $18::boolean[], $19::bigint[], $20::bigint[], $21::bigint[])
	ON CONFLICT (id) DO NOTHING`,
		ids, times, requestIDs, tenants, keys, aliases, targets, prompt, completion, cached, cost, latency,
		attempts, statuses, stream, cacheHit, tags, counted, retrieval, retrievalChunks, retrievalTokens)
	if err != nil {
		return opError("append usage", err)
	}
	return nil
}

// usageGroups maps a grouping to its SQL expression.
var usageGroups = map[usage.Group]string{
	usage.GroupDay:    "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
	usage.GroupTenant: "tenant_id",
	usage.GroupKey:    "key_id",
	usage.GroupAlias:  "alias",
}

// Query implements usage.Ledger.
func (db *DB) Query(ctx context.Context, f usage.Filter) ([]usage.Row, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	group, _ := usage.ParseGroup(string(f.GroupBy))
	var where []string
	var args []any
	for _, c := range []struct {
		cond string
		v    any
		set  bool
	}{
		{"tenant_id = ", f.Tenant, f.Tenant != ""},
		{"key_id = ", f.KeyID, f.KeyID != ""},
		{"alias = ", f.Alias, f.Alias != ""},
		{"time >= ", f.From, !f.From.IsZero()},
		{"time < ", f.To, !f.To.IsZero()},
	} {
		if c.set {
			args = append(args, c.v)
			where = append(where, c.cond+"$"+strconv.Itoa(len(args)))
		}
	}
	expr := usageGroups[group]
	if k, ok := group.TagKey(); ok {
		// The tag's value, "" when the record has none; the key is bound.
		args = append(args, k)
		expr = "coalesce(tags->>$" + strconv.Itoa(len(args)) + ", '')"
	}
	// Groups sort by bytes, as in every backend, not by the locale.
	q := "SELECT (" + expr + `) COLLATE "C" AS g, count(*), count(*) FILTER (WHERE status <> 'ok'),
	sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cached_tokens)::bigint,
	sum(cost_nanodollars)::bigint,
	sum(retrieval_chunks)::bigint, sum(retrieval_tokens)::bigint, sum(retrieval_ns)::bigint
	FROM usage_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY g ORDER BY g"
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, opError("query usage", err)
	}
	out := []usage.Row{}
	var r usage.Row
	var cost, retrieval int64
	_, err = pgx.ForEachRow(rows, []any{&r.Group, &r.Requests, &r.Errors, &r.PromptTokens, &r.CompletionTokens,
		&r.CachedTokens, &cost, &r.RetrievalChunks, &r.RetrievalTokens, &retrieval}, func() error {
		r.Cost, r.Retrieval = usage.Nanodollars(cost), time.Duration(retrieval)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, opError("query usage", err)
	}
	return out, nil
}
