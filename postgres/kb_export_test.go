package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/rag"
)

// VectorPlan returns the plan of v's vector search of storeID for q with
// sequential scans discouraged, as on a store large enough for the index
// to pay.
func VectorPlan(t *testing.T, v *VectorDB, storeID string, q []float32, k int, f *rag.Filter) string {
	t.Helper()
	ctx := t.Context()
	sql, a, err := v.searchSQL(storeID, q, k, f)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	err = pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		if err := v.setSearch(ctx, tx, k); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, a...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
