// Package webhooktest is the conformance suite of webhook.Store: every
// backend runs it (sqlite, postgres), with a webhook.Dispatcher over it
// sending to a real HTTP server, on an injected clock.
package webhooktest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/webhook"
)

// Run runs the suite; newStore returns an empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) webhook.Store) {
	t.Run("SignedDelivery", func(t *testing.T) { signed(t, newStore(t)) })
	t.Run("RetryBackoffDeadLetter", func(t *testing.T) { retries(t, newStore(t)) })
	t.Run("FanOutOnce", func(t *testing.T) { fanOutOnce(t, newStore(t)) })
	t.Run("PurgeEnded", func(t *testing.T) { purgeEnded(t, newStore(t)) })
	t.Run("EndpointsFollowReload", func(t *testing.T) { endpointsReload(t, newStore(t)) })
}

// received is what an endpoint got.
type received struct {
	id, ts, sig string
	body        []byte
}

// endpoint answers with the statuses of answer in turn (then 200) and
// records what it got.
//
// Its port is a loopback port other processes may have used a moment
// ago (tests of other packages run at the same time and pick ports the
// same way), so it may receive requests that are not this test's:
// only requests signed with its own key, a new random one, are
// deliveries; the others are answered 421, counted and logged, and
// consume no answer.
type endpoint struct {
	t       *testing.T
	mu      sync.Mutex
	key     []byte
	secret  string // key's whsec_ form, which the dispatcher takes
	got     []received
	foreign int
	answer  []int
	retry   string // Retry-After sent with a non-2xx answer
}

// newEndpoint returns an endpoint with a key of its own, served until
// the test ends.
func newEndpoint(t *testing.T, answer ...int) (*endpoint, *httptest.Server) {
	e := &endpoint{t: t, answer: answer}
	e.rotate()
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if n := e.count(); n > 0 {
			t.Logf("the endpoint answered %d requests that were not this test's deliveries", n)
		}
	})
	return e, srv
}

// rotate gives e a new random key and returns its whsec_ form: a
// receiver that changed its secret.
func (e *endpoint) rotate() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.key, e.secret = key, "whsec_"+base64.StdEncoding.EncodeToString(key)
	return e.secret
}

// signedByMe reports whether a request carries a Standard Webhooks
// signature made with e's key.
func (e *endpoint) signedByMe(id, ts, sig string, body []byte) bool {
	e.mu.Lock()
	key := e.key
	e.mu.Unlock()
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for s := range strings.FieldsSeq(sig) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

func (e *endpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.foreign
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	got := received{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), b}
	if !e.signedByMe(got.id, got.ts, got.sig, got.body) {
		e.mu.Lock()
		e.foreign++
		first := e.foreign == 1
		e.mu.Unlock()
		if first {
			e.t.Logf("a request that is not this test's delivery: %s %s (User-Agent %q, webhook-id %q)",
				r.Method, r.URL.Path, r.UserAgent(), got.id)
		}
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	e.mu.Lock()
	e.got = append(e.got, got)
	code := 200
	if len(e.answer) > 0 {
		code, e.answer = e.answer[0], e.answer[1:]
	}
	e.mu.Unlock()
	if code != 200 && e.retry != "" {
		w.Header().Set("Retry-After", e.retry)
	}
	w.WriteHeader(code)
}

func (e *endpoint) all() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.got...)
}

// clock is an injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newDispatcher returns a dispatcher over s with o, logging to the
// test, stopped when the test ends (the suite only ticks it, but
// stops whatever it starts).
func newDispatcher(t *testing.T, s webhook.Store, o webhook.Options) *webhook.Dispatcher {
	t.Helper()
	o.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	d, err := webhook.New(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// testWriter writes a dispatcher's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// objectID returns an object id no other test run uses, so that the
// events (whose ids derive from their objects) are this run's.
func objectID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(b)
}

func signed(t *testing.T, s webhook.Store) {
	ep, srv := newEndpoint(t)
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	d := newDispatcher(t, s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: ep.secret, Events: []string{webhook.BatchCompleted}}},
		Now: clk.Now})
	batchID := objectID("batch")
	ev := webhook.NewEvent(webhook.BatchCompleted, "t1", batchID, clk.Now())
	other := webhook.NewEvent(webhook.ResponseFailed, "t1", objectID("resp"), clk.Now())
	for _, e := range []webhook.Event{ev, other} {
		if err := s.PutEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	d.Tick(t.Context())
	got := ep.all()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1 (the endpoint asked for batch.completed only)", len(got))
	}
	r := got[0]
	// The Standard Webhooks signature, computed here without the library
	// (the endpoint took it for a delivery: it checked it the same way).
	mac := hmac.New(sha256.New, ep.key)
	mac.Write([]byte(r.id + "." + r.ts + "." + string(r.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if r.sig != want {
		t.Fatalf("webhook-signature %q, want %q", r.sig, want)
	}
	if r.id != ev.ID || r.ts != strconv.FormatInt(clk.Now().Unix(), 10) {
		t.Fatalf("webhook-id %q timestamp %q", r.id, r.ts)
	}
	var p struct {
		ID, Object, Type string
		CreatedAt        int64 `json:"created_at"`
		Data             struct{ ID string }
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.ID != ev.ID || p.Object != "event" || p.Type != "batch.completed" ||
		p.Data.ID != batchID || p.CreatedAt != clk.Now().Unix() {
		t.Fatalf("payload %s: %v", r.body, err)
	}
	ds, _, err := s.Deliveries(t.Context(), webhook.Page{State: webhook.Delivered, Limit: 10})
	if err != nil || len(ds) != 1 || ds[0].Attempts != 1 || ds[0].DeliveredAt == nil || ds[0].LastStatus != 200 {
		t.Fatalf("delivered: %+v %v", ds, err)
	}
	if strings.Contains(string(must(json.Marshal(ds))), ep.secret) {
		t.Fatal("the delivery log holds the secret")
	}
	d.Tick(t.Context())
	if n := len(ep.all()); n != 1 {
		t.Fatalf("%d sends after a second tick, want 1", n)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func retries(t *testing.T, s webhook.Store) {
	ep, srv := newEndpoint(t, 500, 503, 500, 500)
	ep.retry = "120"
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	d := newDispatcher(t, s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: ep.secret}},
		Now: clk.Now, Rand: func() float64 { return 0.5 }, MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: time.Hour})
	ev := webhook.NewEvent(webhook.ResponseCompleted, "t1", objectID("resp"), clk.Now())
	if err := s.PutEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	pending := func() webhook.Delivery {
		t.Helper()
		ds, _, err := s.Deliveries(t.Context(), webhook.Page{Limit: 10})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries %+v %v", ds, err)
		}
		return ds[0]
	}
	start := clk.Now()
	d.Tick(t.Context()) // attempt 1: 500 with Retry-After 120s, longer than the backoff
	dl := pending()
	if dl.State != webhook.Pending || dl.Attempts != 1 || dl.LastStatus != 500 || !dl.NextAt.Equal(start.Add(120*time.Second)) {
		t.Fatalf("after attempt 1: %+v", dl)
	}
	clk.add(119 * time.Second)
	d.Tick(t.Context())
	if n := len(ep.all()); n != 1 {
		t.Fatalf("sent %d times before Retry-After passed", n)
	}
	clk.add(time.Second)
	ep.mu.Lock()
	ep.retry = "" // now the backoff rules: 2 × 10s, half fixed, half random (0.5)
	ep.mu.Unlock()
	d.Tick(t.Context()) // attempt 2: 503
	dl = pending()
	if want := clk.Now().Add(15 * time.Second); dl.Attempts != 2 || !dl.NextAt.Equal(want) {
		t.Fatalf("after attempt 2: next %v attempts %d, want %v", dl.NextAt, dl.Attempts, want)
	}
	clk.add(15 * time.Second)
	d.Tick(t.Context()) // attempt 3: 500, the last
	dl = pending()
	if dl.State != webhook.Dead || dl.Attempts != 3 || dl.LastError == "" {
		t.Fatalf("after the last attempt: %+v", dl)
	}
	clk.add(24 * time.Hour)
	d.Tick(t.Context())
	if n := len(ep.all()); n != 3 {
		t.Fatalf("a dead delivery was sent again: %d sends", n)
	}
	if dead, _, _ := s.Deliveries(t.Context(), webhook.Page{State: webhook.Dead, Limit: 10}); len(dead) != 1 {
		t.Fatalf("dead filter: %+v", dead)
	}
	if none, _, _ := s.Deliveries(t.Context(), webhook.Page{State: webhook.Delivered, Limit: 10}); len(none) != 0 {
		t.Fatalf("delivered filter: %+v", none)
	}
	// An operator retries it: one more attempt (500), then it succeeds.
	if _, err := s.RetryDelivery(t.Context(), dl.ID, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetryDelivery(t.Context(), dl.ID, clk.Now()); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("retry of a pending delivery: %v", err)
	}
	if _, err := s.RetryDelivery(t.Context(), "whd_nope", clk.Now()); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("retry of no delivery: %v", err)
	}
	d.Tick(t.Context())
	clk.add(10 * time.Second)
	d.Tick(t.Context())
	dl = pending()
	if dl.State != webhook.Delivered || dl.Attempts != 2 {
		t.Fatalf("after the manual retry: %+v", dl)
	}
	got := ep.all()
	if len(got) != 5 {
		t.Fatalf("%d sends, want 5", len(got))
	}
	for _, r := range got {
		if r.id != ev.ID {
			t.Fatalf("webhook-id %q changed across attempts (want %q)", r.id, ev.ID)
		}
	}
}

func fanOutOnce(t *testing.T, s webhook.Store) {
	ep, srv := newEndpoint(t)
	clk := &clock{now: time.Now().UTC()}
	ev := webhook.NewEvent(webhook.ChatCompleted, "t1", objectID("chatjob"), clk.Now())
	d := webhook.NewDelivery(ev, srv.URL, clk.Now())
	// A fan-out cut off and done again stores each delivery once.
	if err := s.PutEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.FanOut(t.Context(), ev, []webhook.Delivery{d}); err != nil {
			t.Fatal(err)
		}
	}
	if evs, _ := s.NewEvents(t.Context(), 10); len(evs) != 0 {
		t.Fatalf("events left after the fan-out: %+v", evs)
	}
	if ds, _, _ := s.Deliveries(t.Context(), webhook.Page{Limit: 10}); len(ds) != 1 {
		t.Fatalf("deliveries: %+v", ds)
	}
	// Two dispatchers (replicas) claim it: one sends it.
	var ds []*webhook.Dispatcher
	for range 2 {
		ds = append(ds, newDispatcher(t, s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: ep.secret}}, Now: clk.Now}))
	}
	var wg sync.WaitGroup
	for _, x := range ds {
		wg.Go(func() { x.Tick(t.Context()) })
	}
	wg.Wait()
	if n := len(ep.all()); n != 1 {
		t.Fatalf("sent %d times by two replicas", n)
	}
	if _, err := webhook.New(s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: "not-a-secret"}}}); err == nil ||
		strings.Contains(err.Error(), "not-a-secret") {
		t.Fatalf("bad secret: %v", err)
	}
}

// events returns the event ids endpoint e received, in order.
func (e *endpoint) events() []string {
	var ids []string
	for _, r := range e.all() {
		ids = append(ids, r.id)
	}
	return ids
}

// newEventsHas reports whether e is among the events not fanned out.
func newEventsHas(t *testing.T, s webhook.Store, e webhook.Event) bool {
	t.Helper()
	evs, err := s.NewEvents(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range evs {
		if x.ID == e.ID {
			return true
		}
	}
	return false
}

// purgeEnded: the deliveries delivered or dead before the cut-off go,
// and the events left without one; pending deliveries stay however old,
// with their events, and so do the ones that ended after the cut-off.
func purgeEnded(t *testing.T, s webhook.Store) {
	ok, okSrv := newEndpoint(t)
	bad, badSrv := newEndpoint(t, 500, 500, 500, 500, 500, 500)
	down, downSrv := newEndpoint(t, 503, 503, 503, 503)
	down.retry = "10800" // 3h: its delivery stays pending past the cut-off
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	d := newDispatcher(t, s, webhook.Options{Endpoints: []webhook.Endpoint{
		{URL: okSrv.URL, Secret: ok.secret, Events: []string{webhook.BatchCompleted}},
		{URL: badSrv.URL, Secret: bad.secret, Events: []string{webhook.BatchFailed}},
		{URL: downSrv.URL, Secret: down.secret, Events: []string{webhook.ResponseFailed}},
	}, Now: clk.Now, Rand: func() float64 { return 0.5 }, MaxAttempts: 2, Backoff: 10 * time.Second, MaxBackoff: 4 * time.Hour})
	put := func(typ string) webhook.Event {
		t.Helper()
		e := webhook.NewEvent(typ, "t1", objectID("obj"), clk.Now())
		if err := s.PutEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	start := clk.Now()
	delivered, dead, oldPending, unwanted := put(webhook.BatchCompleted), put(webhook.BatchFailed), put(webhook.ResponseFailed), put(webhook.ChatCancelled)
	d.Tick(t.Context())
	clk.add(10 * time.Second)
	d.Tick(t.Context()) // the second attempt at the batch.failed one: dead
	// One due before the cut-off but sent after it (the dispatcher was
	// down): it ended after the cut-off.
	late := put(webhook.BatchCompleted)
	if err := s.FanOut(t.Context(), late, []webhook.Delivery{webhook.NewDelivery(late, okSrv.URL, start)}); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Hour)
	recent, newPending := put(webhook.BatchCompleted), put(webhook.BatchFailed)
	d.Tick(t.Context())
	byEvent := func() map[string]webhook.State {
		t.Helper()
		ds, _, err := s.Deliveries(t.Context(), webhook.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]webhook.State{}
		for _, x := range ds {
			m[x.EventID] = x.State
		}
		return m
	}
	want := map[string]webhook.State{delivered.ID: webhook.Delivered, dead.ID: webhook.Dead, oldPending.ID: webhook.Pending,
		recent.ID: webhook.Delivered, newPending.ID: webhook.Pending, late.ID: webhook.Delivered}
	if got := byEvent(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before the purge: %v, want %v", got, want)
	}
	n, err := d.Purge(t.Context(), start.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("purge: %d %v, want 2", n, err)
	}
	delete(want, delivered.ID)
	delete(want, dead.ID)
	if got := byEvent(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the purge: %v, want %v", got, want)
	}
	// An event purged is no longer recorded: written again, it is new.
	// One that still has a delivery, or is recent, is still recorded.
	for _, e := range []webhook.Event{delivered, dead, unwanted, oldPending, recent} {
		if err := s.PutEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for e, purged := range map[webhook.Event]bool{delivered: true, dead: true, unwanted: true, oldPending: false, recent: false} {
		if got := newEventsHas(t, s, e); got != purged {
			t.Errorf("event %s (%s): purged %v, want %v", e.ID, e.Type, got, purged)
		}
	}
	if n, err := d.Purge(t.Context(), start.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("second purge: %d %v, want 0", n, err)
	}
}

// endpointsReload: SetEndpoints swaps the endpoints whole. A new
// endpoint gets the events fanned out after it; a removed one gets
// nothing more, its pending delivery dead; a changed secret signs the
// next attempt, pending deliveries included; a bad secret changes
// nothing.
func endpointsReload(t *testing.T, s webhook.Store) {
	first, firstSrv := newEndpoint(t, 200, 500)
	second, secondSrv := newEndpoint(t, 500)
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	d := newDispatcher(t, s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: firstSrv.URL, Secret: first.secret}},
		Now: clk.Now, Rand: func() float64 { return 0.5 }, Backoff: 10 * time.Second})
	put := func() webhook.Event {
		t.Helper()
		e := webhook.NewEvent(webhook.ResponseCompleted, "t1", objectID("resp"), clk.Now())
		if err := s.PutEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		d.Tick(t.Context())
		return e
	}
	e1 := put() // first: delivered
	e2 := put() // first: 500, pending
	if err := d.SetEndpoints([]webhook.Endpoint{{URL: secondSrv.URL, Secret: second.secret}}); err != nil {
		t.Fatal(err)
	}
	e3 := put() // second: 500, pending
	rotated := second.rotate()
	if err := d.SetEndpoints([]webhook.Endpoint{{URL: secondSrv.URL, Secret: rotated}}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetEndpoints([]webhook.Endpoint{{URL: firstSrv.URL, Secret: "whsec_!"}}); err == nil || strings.Contains(err.Error(), "whsec_!") {
		t.Fatalf("a bad secret: %v", err)
	}
	clk.add(time.Minute)
	e4 := put() // second, with the new secret; e3 again, with it too; e2 is dead
	if got, want := first.events(), []string{e1.ID, e2.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the removed endpoint got %v, want %v", got, want)
	}
	// second counts only requests signed with its key of the moment: e3
	// before the rotation (the 500), then e4 and e3 after it.
	got := second.events()
	slices.Sort(got[1:])
	want := []string{e3.ID, e3.ID, e4.ID}
	slices.Sort(want[1:])
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the new endpoint got %v, want %v", got, want)
	}
	ds, _, err := s.Deliveries(t.Context(), webhook.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]webhook.State{}
	for _, x := range ds {
		states[x.EventID+" "+x.Endpoint] = x.State
	}
	wantStates := map[string]webhook.State{
		e1.ID + " " + firstSrv.URL: webhook.Delivered, e2.ID + " " + firstSrv.URL: webhook.Dead,
		e3.ID + " " + secondSrv.URL: webhook.Delivered, e4.ID + " " + secondSrv.URL: webhook.Delivered,
	}
	if fmt.Sprint(states) != fmt.Sprint(wantStates) {
		t.Fatalf("deliveries %v, want %v", states, wantStates)
	}
}
