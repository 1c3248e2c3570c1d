package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/usage"
)

// SetBudget stores b, replacing the budget of its scope if there is one.
// The caller checks that the scope exists. Key listeners (ListenKeys) are
// notified when the transaction commits, since a key set carries its
// budgets.
func (db *DB) SetBudget(ctx context.Context, b usage.Budget) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return opError("set budget", err)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO budgets
	(scope_kind, scope_id, tenant_id, period, amount_nanodollars, hard, updated_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (scope_kind, scope_id) DO UPDATE SET tenant_id = excluded.tenant_id, period = excluded.period,
		amount_nanodollars = excluded.amount_nanodollars, hard = excluded.hard, updated_ns = excluded.updated_ns`,
			b.Kind, b.ID, b.TenantID, string(b.Period), int64(b.Amount), b.Hard, unixNano(b.UpdatedAt)); err != nil {
			return err
		}
		return db.notifyKeys(ctx, tx, b.ID)
	})
	if err != nil {
		return opError("set budget", err)
	}
	return nil
}

const budgetColumns = "scope_kind, scope_id, tenant_id, period, amount_nanodollars, hard, updated_ns"

// Budget returns the budget of the scope kind/id, or usage.ErrNoBudget.
func (db *DB) Budget(ctx context.Context, kind, id string) (usage.Budget, error) {
	if err := db.open(ctx); err != nil {
		return usage.Budget{}, err
	}
	rows, err := db.pool.Query(ctx, "SELECT "+budgetColumns+" FROM budgets WHERE scope_kind = $1 AND scope_id = $2", kind, id)
	if err != nil {
		return usage.Budget{}, opError("get budget", err)
	}
	bs, err := collectBudgets(rows)
	if err != nil {
		return usage.Budget{}, opError("get budget", err)
	}
	if len(bs) == 0 {
		return usage.Budget{}, usage.ErrNoBudget
	}
	return bs[0], nil
}

// Budgets lists every budget, ordered by scope kind and id.
func (db *DB) Budgets(ctx context.Context) ([]usage.Budget, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, "SELECT "+budgetColumns+` FROM budgets ORDER BY scope_kind, scope_id COLLATE "C"`)
	if err != nil {
		return nil, opError("list budgets", err)
	}
	bs, err := collectBudgets(rows)
	if err != nil {
		return nil, opError("list budgets", err)
	}
	return bs, nil
}

// DeleteBudget removes the budget of the scope kind/id, or fails with
// usage.ErrNoBudget if it has none. Key listeners are notified.
func (db *DB) DeleteBudget(ctx context.Context, kind, id string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM budgets WHERE scope_kind = $1 AND scope_id = $2", kind, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return usage.ErrNoBudget
		}
		return db.notifyKeys(ctx, tx, id)
	})
	if errors.Is(err, usage.ErrNoBudget) {
		return err
	}
	if err != nil {
		return opError("delete budget", err)
	}
	return nil
}

func collectBudgets(rows pgx.Rows) ([]usage.Budget, error) {
	out := []usage.Budget{}
	var b usage.Budget
	var period string
	var amount, updated int64
	_, err := pgx.ForEachRow(rows, []any{&b.Kind, &b.ID, &b.TenantID, &period, &amount, &b.Hard, &updated}, func() error {
		b.Period, b.Amount, b.UpdatedAt = usage.Period(period), usage.Nanodollars(amount), fromUnixNano(updated)
		out = append(out, b)
		return nil
	})
	return out, err
}
