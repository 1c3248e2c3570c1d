package usagetest

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/bulwark-ai/bulwark/usage"
)

// Memory is an in-memory usage.Ledger. The zero value is ready to use, and
// it is safe for concurrent use.
type Memory struct {
	mu   sync.Mutex
	recs map[string]usage.Record // by ID
}

var _ usage.Ledger = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{} }

// Append implements usage.Ledger.
func (m *Memory) Append(ctx context.Context, recs []usage.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]usage.Record{}
	}
	for _, r := range recs {
		if _, ok := m.recs[r.ID]; !ok {
			r.Time = r.Time.UTC()
			m.recs[r.ID] = r
		}
	}
	return nil
}

// Len returns the number of records stored.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// Records returns the stored records ordered by time, then ID.
func (m *Memory) Records() []usage.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]usage.Record, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b usage.Record) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Query implements usage.Ledger.
func (m *Memory) Query(ctx context.Context, f usage.Filter) ([]usage.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	return Aggregate(m.Records(), f), nil
}

// Aggregate computes what Query(f) returns over recs: the reference every
// backend is held to.
func Aggregate(recs []usage.Record, f usage.Filter) []usage.Row {
	group, _ := usage.ParseGroup(string(f.GroupBy))
	rows := map[string]*usage.Row{}
	for _, r := range recs {
		t := r.Time.UTC()
		if (f.Tenant != "" && r.TenantID != f.Tenant) || (f.KeyID != "" && r.KeyID != f.KeyID) ||
			(f.Alias != "" && r.Alias != f.Alias) ||
			(!f.From.IsZero() && t.Before(f.From)) || (!f.To.IsZero() && !t.Before(f.To)) {
			continue
		}
		var g string
		switch group {
		case usage.GroupDay:
			g = t.Format(usage.DayFormat)
		case usage.GroupTenant:
			g = r.TenantID
		case usage.GroupKey:
			g = r.KeyID
		case usage.GroupAlias:
			g = r.Alias
		default:
			if k, ok := group.TagKey(); ok {
				g = r.Tags[k]
			}
		}
		row := rows[g]
		if row == nil {
			row = &usage.Row{Group: g}
			rows[g] = row
		}
		row.Requests++
		if r.Status != usage.StatusOK {
			row.Errors++
		}
		row.PromptTokens += r.PromptTokens
		row.CompletionTokens += r.CompletionTokens
		row.CachedTokens += r.CachedTokens
		row.Cost += r.Cost
		row.RetrievalChunks += r.RetrievalChunks
		row.RetrievalTokens += r.RetrievalTokens
		row.Retrieval += r.Retrieval
	}
	out := make([]usage.Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b usage.Row) int { return cmp.Compare(a.Group, b.Group) })
	return out
}
