package postgres

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Keyword search ranks by Okapi BM25 over the chunks' english tsvector, as
// the embedded shape ranks with FTS5's bm25() (k1 1.2, b 0.75), so that
// both shapes order a store's chunks alike; ts_rank_cd, Postgres's own
// ranking, weighs neither how rare a word is in the store nor how long
// the chunk is, and ranked the DBpedia set of bench/retrieval worse. A
// chunk's length is its count of distinct lexemes (length(tsvector)); a
// term's frequency the count of its positions. The store's chunk count
// and mean length are read at most every bm25StatsTTL (a scan of the
// store); each query term's document frequency comes with the match.
const (
	bm25K1       = 1.2
	bm25B        = 0.75
	bm25StatsTTL = 10 * time.Second
)

// bm25Stats is a store's chunk count and mean chunk length.
type bm25Stats struct {
	n, avgdl float64
	at       time.Time
}

// statsCache holds each store's bm25Stats.
type statsCache struct{ m sync.Map }

// stats returns the store's BM25 statistics, read again once older than
// bm25StatsTTL. Search clamps them (a count below a term's document
// frequency, a mean below 1) so that stale ones never turn a weight
// negative.
func (db *DB) bm25Stats(ctx context.Context, storeID string) (n, avgdl float64, err error) {
	if v, ok := db.kwStats.m.Load(storeID); ok {
		if s := v.(bm25Stats); time.Since(s.at) < bm25StatsTTL {
			return s.n, s.avgdl, nil
		}
	}
	var s bm25Stats
	if err := db.pool.QueryRow(ctx, "SELECT count(*)::float8, coalesce(avg(length(tsv)), 1)::float8 FROM kb_chunks WHERE store_id = $1",
		storeID).Scan(&s.n, &s.avgdl); err != nil {
		return 0, 0, err
	}
	s.at = time.Now()
	db.kwStats.m.Store(storeID, s)
	return s.n, s.avgdl, nil
}

// keywordSQL is the keyword search of the store $1 for the words $2 with
// the store's chunk count $3 and mean chunk length $4, restricted by
// filter (SQL on sf, the chunk's store file; "" for none) and limited by
// limit ("" for none), best first. The words are turned into lexemes as
// the chunks' text is (stemmed, stop words left out), and a chunk that
// holds any of them matches. The chunks of the store that match, found
// through the tsvector's GIN index, give each term's document frequency
// (a chunk without the term does not match on it); the filter applies
// to the ranking, not to the statistics.
func keywordSQL(filter, limit string) string {
	q := `WITH terms AS MATERIALIZED (
			SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('english', array_to_string($2::text[], ' '))) u
		), q AS MATERIALIZED (
			SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS q FROM terms
		), hits AS MATERIALIZED (
			SELECT c.id, c.store_id, c.file_id, c.tsv FROM q, kb_chunks c
			WHERE c.store_id = $1 AND q.q IS NOT NULL AND c.tsv @@ q.q
		), df AS MATERIALIZED (
			SELECT u.lexeme, count(*)::float8 AS df FROM hits h CROSS JOIN LATERAL unnest(h.tsv) u
			WHERE u.lexeme IN (SELECT lexeme FROM terms) GROUP BY u.lexeme
		)
		SELECT h.id, sum(
			ln(1 + (greatest($3::float8, df.df) - df.df + 0.5) / (df.df + 0.5))
			* cardinality(u.positions) * ` + ftoa(bm25K1+1) + `
			/ (cardinality(u.positions) + ` + ftoa(bm25K1) + ` * (1 - ` + ftoa(bm25B) + ` + ` + ftoa(bm25B) + ` * length(h.tsv) / greatest($4::float8, 1)))
		) AS score
		FROM hits h`
	if filter != "" {
		q += " JOIN kb_store_files sf ON sf.store_id = h.store_id AND sf.file_id = h.file_id AND " + filter
	}
	q += ` CROSS JOIN LATERAL unnest(h.tsv) u JOIN df ON df.lexeme = u.lexeme
		GROUP BY h.id ORDER BY score DESC, h.id`
	if limit != "" {
		q += " LIMIT " + limit
	}
	return q
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
