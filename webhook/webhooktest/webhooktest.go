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
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	key     []byte
	secret  string // key's whsec_ form, which the dispatcher takes
	mu      sync.Mutex
	got     []received
	foreign int
	answer  []int
	retry   string // Retry-After sent with a non-2xx answer
}

// newEndpoint returns an endpoint with a key of its own, served until
// the test ends.
func newEndpoint(t *testing.T, answer ...int) (*endpoint, *httptest.Server) {
	e := &endpoint{t: t, key: make([]byte, 32), answer: answer}
	_, _ = rand.Read(e.key)
	e.secret = "whsec_" + base64.StdEncoding.EncodeToString(e.key)
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if n := e.count(); n > 0 {
			t.Logf("the endpoint answered %d requests that were not this test's deliveries", n)
		}
	})
	return e, srv
}

// signedByMe reports whether a request carries a Standard Webhooks
// signature made with e's key.
func (e *endpoint) signedByMe(id, ts, sig string, body []byte) bool {
	mac := hmac.New(sha256.New, e.key)
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
