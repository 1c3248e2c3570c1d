package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulwark-ai/bulwark/usage"
)

// SetBudget stores b, replacing the budget of its scope if there is one.
// The caller checks that the scope exists.
func (db *DB) SetBudget(ctx context.Context, b usage.Budget) error {
	if err := b.Validate(); err != nil {
		return opError("set budget", err)
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO budgets
	(scope_kind, scope_id, tenant_id, period, amount_nanodollars, hard, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (scope_kind, scope_id) DO UPDATE SET tenant_id = excluded.tenant_id, period = excluded.period,
		amount_nanodollars = excluded.amount_nanodollars, hard = excluded.hard, updated_at = excluded.updated_at`,
		b.Kind, b.ID, b.TenantID, string(b.Period), int64(b.Amount), b.Hard, formatTime(b.UpdatedAt))
	if err != nil {
		return opError("set budget", err)
	}
	return nil
}

const budgetColumns = "scope_kind, scope_id, tenant_id, period, amount_nanodollars, hard, updated_at"

// Budget returns the budget of the scope kind/id, or usage.ErrNoBudget.
func (db *DB) Budget(ctx context.Context, kind, id string) (usage.Budget, error) {
	b, err := scanBudget(db.db.QueryRowContext(ctx, "SELECT "+budgetColumns+" FROM budgets WHERE scope_kind = ? AND scope_id = ?", kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return usage.Budget{}, usage.ErrNoBudget
	}
	if err != nil {
		return usage.Budget{}, opError("get budget", err)
	}
	return b, nil
}

// Budgets lists every budget, ordered by scope kind and id.
func (db *DB) Budgets(ctx context.Context) ([]usage.Budget, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT "+budgetColumns+" FROM budgets ORDER BY scope_kind, scope_id")
	if err != nil {
		return nil, opError("list budgets", err)
	}
	defer rows.Close()
	out := []usage.Budget{}
	for rows.Next() {
		b, err := scanBudget(rows)
		if err != nil {
			return nil, opError("list budgets", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list budgets", err)
	}
	return out, nil
}

// DeleteBudget removes the budget of the scope kind/id, or fails with
// usage.ErrNoBudget if it has none.
func (db *DB) DeleteBudget(ctx context.Context, kind, id string) error {
	res, err := db.db.ExecContext(ctx, "DELETE FROM budgets WHERE scope_kind = ? AND scope_id = ?", kind, id)
	if err != nil {
		return opError("delete budget", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return opError("delete budget", err)
	} else if n == 0 {
		return usage.ErrNoBudget
	}
	return nil
}

func scanBudget(s scanner) (usage.Budget, error) {
	var b usage.Budget
	var period, updated string
	var amount int64
	if err := s.Scan(&b.Kind, &b.ID, &b.TenantID, &period, &amount, &b.Hard, &updated); err != nil {
		return usage.Budget{}, err
	}
	b.Period, b.Amount = usage.Period(period), usage.Nanodollars(amount)
	var err error
	b.UpdatedAt, err = parseTime(updated)
	return b, err
}
