// Package jobtest is the conformance suite of job.Store: every backend
// runs it (sqlite, postgres), with the job.Service over it, so that the
// embedded and the scaled store behave alike.
package jobtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/webhook"
)

// EventReader is what the suite needs to see the events a store wrote
// with the jobs' ends.
type EventReader interface {
	NewEvents(ctx context.Context, limit int) ([]webhook.Event, error)
}

// Run runs the suite; newStore returns an empty store each call, which
// must also be an EventReader.
func Run(t *testing.T, newStore func(t *testing.T) job.Store) {
	t.Run("Lifecycle", func(t *testing.T) { lifecycle(t, newStore(t)) })
	t.Run("ClaimLease", func(t *testing.T) { claimLease(t, newStore(t)) })
	t.Run("ServiceRunsEachOnce", func(t *testing.T) { serviceRuns(t, newStore(t)) })
	t.Run("ReplicasShare", func(t *testing.T) { replicasShare(t, newStore(t)) })
	t.Run("CancelStopsRun", func(t *testing.T) { cancelStops(t, newStore(t)) })
	t.Run("DeleteStore", func(t *testing.T) { deleteStore(t, newStore(t)) })
	t.Run("DeleteStopsRun", func(t *testing.T) { deleteStops(t, newStore(t)) })
	t.Run("DeleteOnAnotherReplica", func(t *testing.T) { deleteElsewhere(t, newStore(t)) })
	t.Run("Purge", func(t *testing.T) { purge(t, newStore(t)) })
}

func newJob(tenant string) job.Job {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return job.Job{ID: job.NewID("job_"), TenantID: tenant, KeyID: "key", Kind: job.Chat, Body: json.RawMessage(`{"n":1}`),
		Status: job.Queued, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func events(t *testing.T, s job.Store) []webhook.Event {
	t.Helper()
	evs, err := s.(EventReader).NewEvents(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func lifecycle(t *testing.T, s job.Store) {
	ctx := t.Context()
	j := newJob("t1")
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, j); !errors.Is(err, job.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	if _, err := s.LoadJob(ctx, "t2", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("another tenant's job: %v, want ErrNotFound", err)
	}
	got, err := s.LoadJob(ctx, "t1", j.ID)
	if err != nil || got.Status != job.Queued || string(got.Body) != `{"n":1}` {
		t.Fatalf("load: %+v %v", got, err)
	}
	claimed, err := s.ClaimJobs(ctx, "a", time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].Status != job.InProgress || claimed[0].Attempts != 1 || claimed[0].StartedAt == nil {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	now := time.Now().UTC()
	end := claimed[0]
	end.Status, end.StatusCode, end.Result, end.EndedAt = job.Completed, 200, json.RawMessage(`{"ok":true}`), &now
	ev := webhook.NewEvent("chat.completion.completed", "t1", j.ID, now)
	if ok, err := s.FinishJob(ctx, end, ev); err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	again := end
	again.Status = job.Failed
	if ok, err := s.FinishJob(ctx, again, webhook.NewEvent("chat.completion.failed", "t1", j.ID, now)); err != nil || ok {
		t.Fatalf("second finish: %v %v, want false", ok, err)
	}
	if err := s.(webhook.Store).PutEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadJob(ctx, "t1", j.ID)
	if got.Status != job.Completed || string(got.Result) != `{"ok":true}` {
		t.Fatalf("after finish: %+v", got)
	}
	evs := events(t, s)
	if len(evs) != 1 || evs[0].ID != ev.ID || evs[0].Type != "chat.completion.completed" || evs[0].ObjectID != j.ID {
		t.Fatalf("events: %+v, want the one end", evs)
	}
	if ok, err := s.RenewJob(ctx, j.ID, "a", time.Minute); err != nil || ok {
		t.Fatalf("renew an ended job: %v %v", ok, err)
	}
}

func claimLease(t *testing.T, s job.Store) {
	ctx := t.Context()
	j := newJob("t1")
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClaimJobs(ctx, "a", time.Hour, 10); len(c) != 1 {
		t.Fatalf("a claims %d", len(c))
	}
	if c, _ := s.ClaimJobs(ctx, "b", time.Hour, 10); len(c) != 0 {
		t.Fatalf("b claims a held job: %d", len(c))
	}
	if ok, _ := s.RenewJob(ctx, j.ID, "b", time.Hour); ok {
		t.Fatal("b renews a's lease")
	}
	if err := s.ReleaseJobs(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	c, _ := s.ClaimJobs(ctx, "b", time.Millisecond, 10)
	if len(c) != 1 || c[0].Attempts != 2 {
		t.Fatalf("b after the release: %+v", c)
	}
	time.Sleep(5 * time.Millisecond) // the lease runs out by the store's clock
	if c, _ := s.ClaimJobs(ctx, "a", time.Hour, 10); len(c) != 1 || c[0].Attempts != 3 {
		t.Fatalf("a after b's lease ran out: %+v", c)
	}
}

// counter is an Executor that answers 200 and counts its calls by job.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
	block chan struct{} // when not nil, calls wait for it or ctx
}

func (c *counter) Execute(ctx context.Context, j job.Job) job.Result {
	c.mu.Lock()
	c.calls[j.ID]++
	c.mu.Unlock()
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return job.Result{}
		}
	}
	return job.Result{StatusCode: 200, Body: []byte(fmt.Sprintf(`{"id":%q}`, j.ID))}
}

func waitEnded(t *testing.T, s job.Store, ids []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			j, err := s.LoadJob(t.Context(), "t1", id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status.Final() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still %s", id, j.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func serviceRuns(t *testing.T, s job.Store) {
	c := &counter{calls: map[string]int{}}
	svc := job.New(s, c, job.Options{Workers: 3, Poll: 10 * time.Millisecond, Owner: "one",
		Events: func(k job.Kind, st job.Status) string { return "chat.completion." + string(st) }})
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var ids []string
	for range 10 {
		j, err := svc.Create(t.Context(), newJob("t1"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	waitEnded(t, s, ids)
	for _, id := range ids {
		j, _ := svc.Job(t.Context(), "t1", id)
		if j.Status != job.Completed || j.StatusCode != 200 || string(j.Result) != fmt.Sprintf(`{"id":%q}`, id) {
			t.Errorf("job %s: %+v", id, j)
		}
	}
	if n := len(events(t, s)); n != 10 {
		t.Errorf("%d events, want 10", n)
	}
}

func replicasShare(t *testing.T, s job.Store) {
	c := &counter{calls: map[string]int{}}
	var svcs []*job.Service
	for i := range 3 {
		svc := job.New(s, c, job.Options{Workers: 2, Poll: 5 * time.Millisecond, Owner: fmt.Sprintf("replica-%d", i),
			Events: func(k job.Kind, st job.Status) string { return "chat.completion." + string(st) }})
		if err := svc.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		svcs = append(svcs, svc)
	}
	var ids []string
	for i := range 30 {
		j, err := svcs[i%3].Create(t.Context(), newJob("t1"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	waitEnded(t, s, ids)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if c.calls[id] != 1 {
			t.Errorf("job %s ran %d times", id, c.calls[id])
		}
	}
	if n := len(events(t, s)); n != 30 {
		t.Errorf("%d events, want 30", n)
	}
}

func cancelStops(t *testing.T, s job.Store) {
	c := &counter{calls: map[string]int{}, block: make(chan struct{})}
	var ended atomic.Int32
	svc := job.New(s, c, job.Options{Workers: 1, Poll: 5 * time.Millisecond, Owner: "one", Ended: func() { ended.Add(1) },
		Events: func(k job.Kind, st job.Status) string { return "chat.completion." + string(st) }})
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	j, err := svc.Create(t.Context(), newJob("t1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for {
		c.mu.Lock()
		n := c.calls[j.ID]
		c.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	got, err := svc.Cancel(t.Context(), "t1", j.ID)
	if err != nil || got.Status != job.Cancelled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	again, err := svc.Cancel(t.Context(), "t1", j.ID)
	if err != nil || again.Status != job.Cancelled {
		t.Fatalf("cancel again: %+v %v", again, err)
	}
	close(c.block)
	svc.Close()
	got, _ = svc.Job(t.Context(), "t1", j.ID)
	if got.Status != job.Cancelled || got.StatusCode != 0 {
		t.Fatalf("after the run ended: %+v", got)
	}
	evs := events(t, s)
	if len(evs) != 1 || evs[0].Type != "chat.completion.cancelled" {
		t.Fatalf("events %+v", evs)
	}
	if _, err := svc.Cancel(t.Context(), "t2", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("another tenant cancels: %v", err)
	}
}

func deleteStore(t *testing.T, s job.Store) {
	ctx := t.Context()
	j := newJob("t1")
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ClaimJobs(ctx, "a", time.Hour, 10); err != nil || len(c) != 1 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if err := s.DeleteJob(ctx, "t2", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("another tenant deletes: %v, want ErrNotFound", err)
	}
	if err := s.DeleteJob(ctx, "t1", j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadJob(ctx, "t1", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("load after delete: %v", err)
	}
	if ok, err := s.RenewJob(ctx, j.ID, "a", time.Hour); err != nil || ok {
		t.Fatalf("the holder renews a deleted job: %v %v", ok, err)
	}
	now := time.Now().UTC()
	end := j
	end.Status, end.EndedAt = job.Completed, &now
	if ok, err := s.FinishJob(ctx, end, webhook.NewEvent("chat.completion.completed", "t1", j.ID, now)); err != nil || ok {
		t.Fatalf("the holder ends a deleted job: %v %v", ok, err)
	}
	if evs := events(t, s); len(evs) != 0 {
		t.Fatalf("events of a deleted job's end: %+v", evs)
	}
	if err := s.DeleteJob(ctx, "t1", j.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

// gate is an Executor whose calls wait until released (or cancelled);
// each call is sent on started.
type gate struct {
	started chan string
	release chan struct{}
	mu      sync.Mutex
	calls   map[string]int
}

func newGate() *gate {
	return &gate{started: make(chan string, 16), release: make(chan struct{}), calls: map[string]int{}}
}

func (g *gate) Execute(ctx context.Context, j job.Job) job.Result {
	g.mu.Lock()
	g.calls[j.ID]++
	g.mu.Unlock()
	g.started <- j.ID
	select {
	case <-g.release:
		return job.Result{StatusCode: 200, Body: []byte(`{}`)}
	case <-ctx.Done():
		return job.Result{}
	}
}

func (g *gate) count(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[id]
}

// droppedJobs records Options.Dropped's calls.
type droppedJobs struct {
	mu  sync.Mutex
	ids []string
	got chan struct{}
}

func newDropped() *droppedJobs { return &droppedJobs{got: make(chan struct{}, 16)} }

func (d *droppedJobs) Dropped(_ context.Context, j job.Job) {
	d.mu.Lock()
	d.ids = append(d.ids, j.ID)
	d.mu.Unlock()
	d.got <- struct{}{}
}

func (d *droppedJobs) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...)
}

func chatEvents(k job.Kind, st job.Status) string { return "chat.completion." + string(st) }

// deleteStops: a queued job deleted never runs; a running one deleted
// is stopped, and its run has returned, its answer dropped, when Delete
// returns; each ends cancelled once, then is gone.
func deleteStops(t *testing.T, s job.Store) {
	g, dropped := newGate(), newDropped()
	svc := job.New(s, g, job.Options{Workers: 1, Poll: 5 * time.Millisecond, Owner: "one", Events: chatEvents, Dropped: dropped.Dropped})
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	running, err := svc.Create(t.Context(), newJob("t1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if id := <-g.started; id != running.ID {
		t.Fatalf("started %s, want %s", id, running.ID)
	}
	// The one worker is busy: this one stays queued.
	queued, err := svc.Create(t.Context(), newJob("t1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Delete(t.Context(), "t2", queued.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("another tenant deletes: %v", err)
	}
	got, err := svc.Delete(t.Context(), "t1", queued.ID)
	if err != nil || got.Status != job.Cancelled {
		t.Fatalf("delete queued: %+v %v", got, err)
	}
	got, err = svc.Delete(t.Context(), "t1", running.ID)
	if err != nil || got.Status != job.Cancelled {
		t.Fatalf("delete running: %+v %v", got, err)
	}
	if ids := dropped.list(); len(ids) != 1 || ids[0] != running.ID {
		t.Fatalf("dropped when Delete returned: %v, want [%s]", ids, running.ID)
	}
	for _, id := range []string{queued.ID, running.ID} {
		if _, err := svc.Job(t.Context(), "t1", id); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("job %s after delete: %v", id, err)
		}
	}
	if _, err := svc.Delete(t.Context(), "t1", queued.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// The worker is free: the next job runs, and the deleted one, older,
	// was never claimed before it.
	next, err := svc.Create(t.Context(), newJob("t1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if id := <-g.started; id != next.ID {
		t.Fatalf("started %s, want %s (the deleted job %s ran)", id, next.ID, queued.ID)
	}
	close(g.release)
	waitEnded(t, s, []string{next.ID})
	if n := g.count(queued.ID); n != 0 {
		t.Fatalf("the deleted queued job ran %d times", n)
	}
	kinds := map[string]int{}
	for _, e := range events(t, s) {
		kinds[e.ObjectID+" "+e.Type]++
	}
	want := map[string]int{queued.ID + " chat.completion.cancelled": 1, running.ID + " chat.completion.cancelled": 1,
		next.ID + " chat.completion.completed": 1}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
}

// deleteElsewhere: a job deleted through one replica while another runs
// it cannot record its end there; that run's answer is dropped.
func deleteElsewhere(t *testing.T, s job.Store) {
	g, dropped := newGate(), newDropped()
	runner := job.New(s, g, job.Options{Workers: 1, Poll: 5 * time.Millisecond, Owner: "runner", Events: chatEvents, Dropped: dropped.Dropped})
	if err := runner.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	api := job.New(s, g, job.Options{Owner: "api", Events: chatEvents}) // not started: it only serves the API
	j, err := api.Create(t.Context(), newJob("t1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	<-g.started
	if got, err := api.Delete(t.Context(), "t1", j.ID); err != nil || got.Status != job.Cancelled {
		t.Fatalf("delete: %+v %v", got, err)
	}
	close(g.release) // the run answers (unless its lease renewal stopped it first)
	select {
	case <-dropped.got:
	case <-time.After(30 * time.Second):
		t.Fatal("the run's answer was not dropped")
	}
	if ids := dropped.list(); len(ids) != 1 || ids[0] != j.ID {
		t.Fatalf("dropped %v", ids)
	}
	runner.Close()
	evs := events(t, s)
	if len(evs) != 1 || evs[0].Type != "chat.completion.cancelled" {
		t.Fatalf("events %+v, want one chat.completion.cancelled", evs)
	}
}

func purge(t *testing.T, s job.Store) {
	ctx := t.Context()
	old, cur := newJob("t1"), newJob("t1")
	old.ExpiresAt = time.Now().Add(-time.Minute)
	for _, j := range []job.Job{old, cur} {
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeJobs(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, err := s.LoadJob(ctx, "t1", old.ID); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("purged job: %v", err)
	}
	if _, err := s.LoadJob(ctx, "t1", cur.ID); err != nil {
		t.Fatal(err)
	}
}
