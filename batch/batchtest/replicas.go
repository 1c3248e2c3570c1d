package batchtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/batch"
)

// Files is an in-memory batch.Files.
type Files struct {
	mu sync.Mutex
	m  map[string]file
}

type file struct {
	tenant, purpose string
	content         []byte
}

// NewFiles returns Files holding nothing.
func NewFiles() *Files { return &Files{m: map[string]file{}} }

// File implements batch.Files.
func (f *Files) File(_ context.Context, tenantID, id string) (string, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.m[id]
	if !ok || x.tenant != tenantID {
		return "", nil, batch.ErrNotFound
	}
	return x.purpose, x.content, nil
}

// Put implements batch.Files.
func (f *Files) Put(_ context.Context, tenantID, id, _, purpose string, content []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[id]; !ok {
		f.m[id] = file{tenantID, purpose, content}
	}
	return nil
}

// Content returns a file's content.
func (f *Files) Content(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.m[id].content)
}

// Executor answers each line with Fn's status code (200 when Fn is nil),
// counting the calls of each line.
type Executor struct {
	Fn    func(ctx context.Context, l batch.Line, call int) int
	mu    sync.Mutex
	calls map[int]int
}

// Execute implements batch.Executor.
func (e *Executor) Execute(ctx context.Context, _ batch.Batch, l batch.Line) batch.Result {
	e.mu.Lock()
	if e.calls == nil {
		e.calls = map[int]int{}
	}
	e.calls[l.Index]++
	n := e.calls[l.Index]
	e.mu.Unlock()
	code := 200
	if e.Fn != nil {
		code = e.Fn(ctx, l, n)
	}
	return batch.Result{StatusCode: code, RequestID: fmt.Sprintf("req-%d-%d", l.Index, n), Body: []byte(fmt.Sprintf(`{"call":%d}`, n))}
}

// Calls returns how often line i was run.
func (e *Executor) Calls(i int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[i]
}

// InputFile stores an input file of n embedding requests for tenant acme
// as file-in.
func InputFile(f *Files, n int) {
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, `{"custom_id":"c%d","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}`+"\n", i)
	}
	_ = f.Put(context.Background(), "acme", "file-in", "in.jsonl", "batch", []byte(in.String()))
}

// Wait polls a batch of acme until it is done.
func Wait(t *testing.T, s *batch.Service, id string) batch.Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := s.Batch(t.Context(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Status.Final() {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch still %s", b.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RunReplicas checks that Services sharing a store (replicas) run a
// batch between them with each line once: the lease keeps a batch to one
// of them at a time.
func RunReplicas(t *testing.T, store batch.Store) {
	fs := NewFiles()
	InputFile(fs, 40)
	ex := &Executor{Fn: func(context.Context, batch.Line, int) int {
		time.Sleep(time.Millisecond)
		return 200
	}}
	var services []*batch.Service
	for range 3 {
		s := batch.New(store, ex, fs, batch.Options{Poll: 5 * time.Millisecond, Lease: 3 * time.Second})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		services = append(services, s)
	}
	b, err := services[0].Create(t.Context(), "acme", "key", "/v1/embeddings", "file-in", "24h", nil)
	if err != nil {
		t.Fatal(err)
	}
	b = Wait(t, services[1], b.ID)
	if b.Status != batch.Completed || b.Counts.Completed != 40 {
		t.Fatalf("batch %+v", b)
	}
	for i := range 40 {
		if n := ex.Calls(i); n != 1 {
			t.Errorf("line %d ran %d times", i, n)
		}
	}
	if n := strings.Count(fs.Content(b.OutputFileID), "\n"); n != 40 {
		t.Errorf("%d output lines, want 40", n)
	}
}
