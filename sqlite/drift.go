package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
)

var _ drift.BaselineStore = (*DB)(nil)

// LoadBaselines implements drift.BaselineStore.
func (db *DB) LoadBaselines(ctx context.Context) (map[string]drift.Snapshot, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT alias, snapshot FROM drift_baselines")
	if err != nil {
		return nil, opError("load drift baselines", err)
	}
	defer rows.Close()
	out := map[string]drift.Snapshot{}
	for rows.Next() {
		var alias string
		var raw []byte
		if err := rows.Scan(&alias, &raw); err != nil {
			return nil, opError("load drift baselines", err)
		}
		var b drift.Snapshot
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("load drift baselines: stored baseline of %q: %w", alias, err)
		}
		out[alias] = b
	}
	if err := rows.Err(); err != nil {
		return nil, opError("load drift baselines", err)
	}
	return out, nil
}

// SaveBaseline implements drift.BaselineStore.
func (db *DB) SaveBaseline(ctx context.Context, alias string, b drift.Snapshot) error {
	if alias == "" {
		return errors.New("save drift baseline: empty alias")
	}
	b.Start, b.End = b.Start.UTC(), b.End.UTC()
	raw, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("save drift baseline of %q: %w", alias, err)
	}
	_, err = db.db.ExecContext(ctx, `INSERT INTO drift_baselines (alias, snapshot, taken_at) VALUES (?, ?, ?)
	ON CONFLICT (alias) DO UPDATE SET snapshot = excluded.snapshot, taken_at = excluded.taken_at`,
		alias, string(raw), formatTime(time.Now()))
	if err != nil {
		return fmt.Errorf("save drift baseline of %q: %w", alias, err)
	}
	return nil
}
