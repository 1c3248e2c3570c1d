// Package batchtest is the conformance suite every batch.Store passes.
package batchtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/batch"
)

// Run runs the suite; newStore returns an empty store, closed by the
// test's cleanup.
func Run(t *testing.T, newStore func(t *testing.T) batch.Store) {
	t.Run("CreateReadList", func(t *testing.T) { t.Parallel(); createReadList(t, newStore(t)) })
	t.Run("ResultsOncePerLine", func(t *testing.T) { t.Parallel(); resultsOnce(t, newStore(t)) })
	t.Run("UpdateFromStatus", func(t *testing.T) { t.Parallel(); updateFrom(t, newStore(t)) })
	t.Run("Leases", func(t *testing.T) { t.Parallel(); leases(t, newStore(t)) })
}

func newBatch(id, tenantID string, status batch.Status) batch.Batch {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return batch.Batch{ID: id, TenantID: tenantID, KeyID: "key-" + tenantID, Endpoint: "/v1/chat/completions", InputFileID: "file-in",
		CompletionWindow: "24h", Metadata: map[string]string{"job": id}, Status: status, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}

func lines(n int) []batch.Line {
	out := make([]batch.Line, n)
	for i := range out {
		out[i] = batch.Line{Index: i, CustomID: fmt.Sprintf("req-%d", i), URL: "/v1/chat/completions",
			Body: json.RawMessage(fmt.Sprintf(`{"model":"m","n":%d}`, i))}
	}
	return out
}

func createReadList(t *testing.T, s batch.Store) {
	ctx := t.Context()
	for i := range 5 {
		b := newBatch(fmt.Sprintf("batch_%d", i), "acme", batch.Validating)
		b.Total = 3
		if err := s.CreateBatch(ctx, b, lines(3)); err != nil {
			t.Fatal(err)
		}
	}
	other := newBatch("batch_other", "globex", batch.Failed)
	other.Errors = []batch.LineError{{Code: "invalid_json_line", Message: "bad"}}
	if err := s.CreateBatch(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBatch(ctx, newBatch("batch_0", "acme", batch.Validating), nil); !errors.Is(err, batch.ErrConflict) {
		t.Errorf("creating a batch twice: %v, want ErrConflict", err)
	}
	got, err := s.LoadBatch(ctx, "acme", "batch_2")
	if err != nil {
		t.Fatal(err)
	}
	want := newBatch("batch_2", "acme", batch.Validating)
	if got.ID != want.ID || got.Metadata["job"] != "batch_2" || got.Status != batch.Validating || got.Endpoint != want.Endpoint ||
		!got.ExpiresAt.Equal(got.CreatedAt.Add(24*time.Hour)) || got.Counts != (batch.Counts{Total: 3}) || got.Total != 3 {
		t.Errorf("read %+v", got)
	}
	if _, err := s.LoadBatch(ctx, "globex", "batch_2"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("another tenant's batch: %v, want ErrNotFound", err)
	}
	if g, err := s.LoadBatch(ctx, "globex", "batch_other"); err != nil || len(g.Errors) != 1 || g.Errors[0].Code != "invalid_json_line" {
		t.Errorf("failed batch: %+v, %v", g, err)
	}
	page, more, err := s.ListBatches(ctx, "acme", batch.Page{Limit: 2})
	if err != nil || !more || len(page) != 2 || page[0].ID != "batch_4" || page[1].ID != "batch_3" {
		t.Fatalf("first page: %v %v %v", ids(page), more, err)
	}
	page, more, err = s.ListBatches(ctx, "acme", batch.Page{Limit: 10, After: "batch_3"})
	if err != nil || more || len(page) != 3 || page[0].ID != "batch_2" || page[2].ID != "batch_0" {
		t.Fatalf("after batch_3: %v %v %v", ids(page), more, err)
	}
	if page, _, _ := s.ListBatches(ctx, "globex", batch.Page{Limit: 10}); len(page) != 1 {
		t.Errorf("globex lists %v", ids(page))
	}
	active, err := s.ActiveBatches(ctx)
	if err != nil || len(active) != 5 || active[0].ID != "batch_0" {
		t.Errorf("active: %v %v", ids(active), err)
	}
}

func ids(bs []batch.Batch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

func resultsOnce(t *testing.T, s batch.Store) {
	ctx := t.Context()
	if err := s.CreateBatch(ctx, newBatch("batch_r", "acme", batch.InProgress), lines(5)); err != nil {
		t.Fatal(err)
	}
	todo, err := s.BatchTodo(ctx, "batch_r", -1, 10)
	if err != nil || len(todo) != 5 || todo[0].CustomID != "req-0" || string(todo[4].Body) != `{"model":"m","n":4}` {
		t.Fatalf("todo %+v %v", todo, err)
	}
	put := func(r batch.Result) bool {
		t.Helper()
		ok, err := s.PutBatchResult(ctx, "batch_r", r)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !put(batch.Result{Index: 1, CustomID: "req-1", StatusCode: 200, RequestID: "r1", Body: json.RawMessage(`{"ok":1}`)}) {
		t.Error("first result not stored")
	}
	if put(batch.Result{Index: 1, CustomID: "req-1", StatusCode: 500}) {
		t.Error("a second result of a line was stored")
	}
	put(batch.Result{Index: 3, CustomID: "req-3", StatusCode: 400, Body: json.RawMessage(`{"error":{}}`)})
	put(batch.Result{Index: 4, CustomID: "req-4", Error: &batch.LineError{Code: "x", Message: "y"}})
	todo, err = s.BatchTodo(ctx, "batch_r", -1, 10)
	if err != nil || len(todo) != 2 || todo[0].Index != 0 || todo[1].Index != 2 {
		t.Fatalf("todo after results: %+v %v", todo, err)
	}
	if todo, _ := s.BatchTodo(ctx, "batch_r", 0, 1); len(todo) != 1 || todo[0].Index != 2 {
		t.Errorf("todo after 0, limit 1: %+v", todo)
	}
	b, err := s.LoadBatch(ctx, "acme", "batch_r")
	if err != nil || b.Counts != (batch.Counts{Total: 5, Completed: 1, Failed: 2}) {
		t.Errorf("counts %+v %v", b.Counts, err)
	}
	var got []batch.Result
	if err := s.BatchResults(ctx, "batch_r", func(r batch.Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Index != 1 || got[0].StatusCode != 200 || string(got[0].Body) != `{"ok":1}` || got[0].RequestID != "r1" ||
		got[2].Error == nil || got[2].Error.Code != "x" {
		t.Errorf("results %+v", got)
	}
}

func updateFrom(t *testing.T, s batch.Store) {
	ctx := t.Context()
	b := newBatch("batch_u", "acme", batch.Validating)
	if err := s.CreateBatch(ctx, b, lines(1)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	b.Status, b.Times.InProgress = batch.InProgress, &now
	if ok, err := s.UpdateBatch(ctx, b, batch.Finalizing); err != nil || ok {
		t.Errorf("update from a status it is not in: %v %v", ok, err)
	}
	if ok, err := s.UpdateBatch(ctx, b, batch.Validating, batch.InProgress); err != nil || !ok {
		t.Errorf("update: %v %v", ok, err)
	}
	other := b
	other.TenantID = "globex"
	other.Status = batch.Cancelled
	if ok, _ := s.UpdateBatch(ctx, other, batch.InProgress); ok {
		t.Error("another tenant updated the batch")
	}
	b.Status, b.OutputFileID = batch.Completed, "file-out"
	if ok, err := s.UpdateBatch(ctx, b, batch.InProgress); err != nil || !ok {
		t.Fatalf("complete: %v %v", ok, err)
	}
	got, err := s.LoadBatch(ctx, "acme", "batch_u")
	if err != nil || got.Status != batch.Completed || got.OutputFileID != "file-out" || got.Times.InProgress == nil || !got.Times.InProgress.Equal(now) {
		t.Errorf("read %+v %v", got, err)
	}
	if active, _ := s.ActiveBatches(ctx); len(active) != 0 {
		t.Errorf("a completed batch is active: %v", ids(active))
	}
}

func leases(t *testing.T, s batch.Store) {
	ctx := t.Context()
	if err := s.CreateBatch(ctx, newBatch("batch_l", "acme", batch.InProgress), lines(1)); err != nil {
		t.Fatal(err)
	}
	claim := func(owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.ClaimBatch(ctx, "batch_l", owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a", time.Minute) {
		t.Fatal("first claim failed")
	}
	if claim("b", time.Minute) {
		t.Error("b claimed a's lease")
	}
	if !claim("a", time.Minute) {
		t.Error("a could not renew")
	}
	if err := s.ReleaseBatch(ctx, "batch_l", "b"); err != nil {
		t.Fatal(err)
	}
	if claim("b", time.Minute) {
		t.Error("b's release released a's lease")
	}
	if err := s.ReleaseBatch(ctx, "batch_l", "a"); err != nil {
		t.Fatal(err)
	}
	if !claim("b", time.Millisecond) {
		t.Error("b could not claim a released batch")
	}
	time.Sleep(5 * time.Millisecond)
	if !claim("a", time.Minute) {
		t.Error("a could not take over a lease that ran out")
	}
	b, _ := s.LoadBatch(ctx, "acme", "batch_l")
	b.Status = batch.Cancelled
	if ok, err := s.UpdateBatch(ctx, b, batch.InProgress); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if claim("a", time.Minute) {
		t.Error("a batch done was claimed")
	}
}
