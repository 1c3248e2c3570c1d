package drifttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/bulwark-ai/bulwark/drift"
)

// Memory is an in-memory drift.BaselineStore. It keeps each baseline as
// JSON, as the database backends do. The zero value is ready to use, and
// it is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	baselines map[string][]byte // JSON, by alias
}

var _ drift.BaselineStore = (*Memory)(nil)

// LoadBaselines implements drift.BaselineStore.
func (m *Memory) LoadBaselines(ctx context.Context) (map[string]drift.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]drift.Snapshot, len(m.baselines))
	for alias, raw := range m.baselines {
		var b drift.Snapshot
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("stored drift baseline of %q: %w", alias, err)
		}
		out[alias] = b
	}
	return out, nil
}

// SaveBaseline implements drift.BaselineStore.
func (m *Memory) SaveBaseline(ctx context.Context, alias string, b drift.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if alias == "" {
		return errors.New("save drift baseline: empty alias")
	}
	b.Start, b.End = b.Start.UTC(), b.End.UTC()
	raw, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("save drift baseline of %q: %w", alias, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.baselines == nil {
		m.baselines = map[string][]byte{}
	}
	m.baselines[alias] = raw
	return nil
}
