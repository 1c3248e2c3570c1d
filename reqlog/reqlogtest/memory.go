package reqlogtest

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/reqlog"
)

// Memory is an in-memory reqlog.Store. The zero value is ready to use,
// and it is safe for concurrent use.
type Memory struct {
	mu   sync.Mutex
	recs map[string]reqlog.Record // by ID
}

var _ reqlog.Store = (*Memory)(nil)

// AppendRequests implements reqlog.Store.
func (m *Memory) AppendRequests(ctx context.Context, recs []reqlog.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]reqlog.Record{}
	}
	for _, r := range recs {
		if _, ok := m.recs[r.ID]; !ok {
			r.Time = r.Time.UTC()
			m.recs[r.ID] = r
		}
	}
	return nil
}

// newestFirst orders records by time, then ID, newest first.
func newestFirst(a, b reqlog.Record) int {
	return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.ID, a.ID))
}

// All returns every stored record, newest first.
func (m *Memory) All() []reqlog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]reqlog.Record, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, newestFirst)
	return out
}

// Requests implements reqlog.Store.
func (m *Memory) Requests(ctx context.Context, f reqlog.Filter) ([]reqlog.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	out := []reqlog.Record{}
	for _, r := range m.All() {
		if !Match(f, r) {
			continue
		}
		r.Content = nil
		out = append(out, r)
		if len(out) == f.PageLimit() {
			break
		}
	}
	return out, nil
}

// Match reports whether f selects r (ignoring its limit): the reference
// every backend is held to.
func Match(f reqlog.Filter, r reqlog.Record) bool {
	t := r.Time.UTC()
	switch {
	case f.Tenant != "" && r.TenantID != f.Tenant,
		f.Alias != "" && r.Alias != f.Alias,
		f.Status != 0 && r.Status != f.Status,
		!f.Since.IsZero() && t.Before(f.Since),
		!f.Until.IsZero() && !t.Before(f.Until):
		return false
	}
	switch f.Result {
	case "":
	case reqlog.ResultOK:
		if r.ErrorType != "" {
			return false
		}
	case reqlog.ResultError:
		if r.ErrorType == "" {
			return false
		}
	default:
		if r.ErrorType != f.Result {
			return false
		}
	}
	if c := f.After; c != nil {
		if t.After(c.Time) || t.Equal(c.Time) && r.ID >= c.ID {
			return false
		}
	}
	return true
}

// RequestByID implements reqlog.Store.
func (m *Memory) RequestByID(ctx context.Context, tenant, requestID string) (reqlog.Record, error) {
	if err := ctx.Err(); err != nil {
		return reqlog.Record{}, err
	}
	var byID *reqlog.Record
	for _, r := range m.All() {
		if tenant != "" && r.TenantID != tenant {
			continue
		}
		if r.RequestID == requestID {
			return r, nil
		}
		if r.ID == requestID && byID == nil {
			byID = &r
		}
	}
	if byID != nil {
		return *byID, nil
	}
	return reqlog.Record{}, reqlog.ErrNotFound
}

// PruneRequests implements reqlog.Store.
func (m *Memory) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, r := range m.recs {
		if r.Time.Before(before) {
			delete(m.recs, id)
			n++
		}
	}
	return n, nil
}
