// Package responsestest holds the conformance suite every responses.Store
// passes (Run) and Memory, an in-memory Store for tests of what uses one.
package responsestest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/responses"
)

// Run checks a Store: save and read back, tenant isolation, expiry,
// delete and purge. newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) responses.Store) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := func(id, tenant string, ttl time.Duration) *responses.Stored {
		return &responses.Stored{
			ID: id, TenantID: tenant, Model: "chat", CreatedAt: now, ExpiresAt: now.Add(ttl),
			Input:    json.RawMessage(`[{"role":"user","content":"hi \u00e9"}]`),
			Output:   json.RawMessage(`[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello","annotations":[]}]}]`),
			Response: json.RawMessage(`{"id":"` + id + `","object":"response"}`),
		}
	}

	t.Run("SaveAndRead", func(t *testing.T) {
		s := newStore(t)
		want := rec("resp_a", "acme", time.Hour)
		if err := s.SaveResponse(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Response(t.Context(), "acme", "resp_a", now)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.TenantID != "acme" || got.Model != "chat" ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Errorf("read back %+v, want %+v", got, want)
		}
		for _, f := range []struct {
			name      string
			got, want json.RawMessage
		}{{"input", got.Input, want.Input}, {"output", got.Output, want.Output}, {"response", got.Response, want.Response}} {
			if !sameJSON(f.got, f.want) {
				t.Errorf("%s read back %s, want %s", f.name, f.got, f.want)
			}
		}
		if err := s.SaveResponse(t.Context(), rec("resp_a", "acme", time.Hour)); err == nil {
			t.Error("an id saved twice was accepted")
		}
	})

	t.Run("OtherTenantIsNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.SaveResponse(t.Context(), rec("resp_b", "acme", time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Response(t.Context(), "globex", "resp_b", now); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("another tenant read it: %v", err)
		}
		if err := s.DeleteResponse(t.Context(), "globex", "resp_b"); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("another tenant deleted it: %v", err)
		}
		if _, err := s.Response(t.Context(), "acme", "resp_b", now); err != nil {
			t.Errorf("after another tenant's delete: %v", err)
		}
		if _, err := s.Response(t.Context(), "acme", "resp_none", now); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("missing id: %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		if err := s.SaveResponse(t.Context(), rec("resp_c", "acme", time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteResponse(t.Context(), "acme", "resp_c"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Response(t.Context(), "acme", "resp_c", now); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		if err := s.DeleteResponse(t.Context(), "acme", "resp_c"); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})

	t.Run("ExpiryAndPurge", func(t *testing.T) {
		s := newStore(t)
		for i, ttl := range []time.Duration{time.Minute, 2 * time.Minute, time.Hour} {
			if err := s.SaveResponse(t.Context(), rec(fmt.Sprintf("resp_%d", i), "acme", ttl)); err != nil {
				t.Fatal(err)
			}
		}
		later := now.Add(5 * time.Minute)
		if _, err := s.Response(t.Context(), "acme", "resp_0", later); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("an expired response was read: %v", err)
		}
		if _, err := s.Response(t.Context(), "acme", "resp_0", now); err != nil {
			t.Errorf("before it expired: %v", err)
		}
		n, err := s.PurgeResponses(t.Context(), later)
		if err != nil || n != 2 {
			t.Errorf("purge: %d, %v; want 2", n, err)
		}
		if _, err := s.Response(t.Context(), "acme", "resp_1", now); !errors.Is(err, responses.ErrNotFound) {
			t.Errorf("a purged response was read: %v", err)
		}
		if _, err := s.Response(t.Context(), "acme", "resp_2", later); err != nil {
			t.Errorf("an unexpired response was purged: %v", err)
		}
	})
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// Memory is an in-memory responses.Store. It is safe for concurrent use.
type Memory struct {
	mu   sync.Mutex
	recs map[string]responses.Stored
}

var _ responses.Store = (*Memory)(nil)

// SaveResponse implements responses.Store.
func (m *Memory) SaveResponse(_ context.Context, r *responses.Stored) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]responses.Stored{}
	}
	if _, ok := m.recs[r.ID]; ok {
		return fmt.Errorf("save response %s: already stored", r.ID)
	}
	m.recs[r.ID] = *r
	return nil
}

// Response implements responses.Store.
func (m *Memory) Response(_ context.Context, tenantID, id string, now time.Time) (*responses.Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok || r.TenantID != tenantID || !now.Before(r.ExpiresAt) {
		return nil, responses.ErrNotFound
	}
	return &r, nil
}

// DeleteResponse implements responses.Store.
func (m *Memory) DeleteResponse(_ context.Context, tenantID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok || r.TenantID != tenantID {
		return responses.ErrNotFound
	}
	delete(m.recs, id)
	return nil
}

// PurgeResponses implements responses.Store.
func (m *Memory) PurgeResponses(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.recs {
		if !now.Before(r.ExpiresAt) {
			delete(m.recs, id)
			n++
		}
	}
	return n, nil
}
