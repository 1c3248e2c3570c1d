// Package webhooktest is the conformance suite of webhook.Store: every
// backend runs it (sqlite, postgres), with a webhook.Dispatcher over it
// sending to a real HTTP server, on an injected clock.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
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

// key is the secret's bytes; secret the whsec_ form the dispatcher takes.
var (
	key    = []byte("bulwark webhook test secret key!")
	secret = "whsec_" + base64.StdEncoding.EncodeToString(key)
)

// received is what an endpoint got.
type received struct {
	id, ts, sig string
	body        []byte
}

// endpoint answers with the statuses of answer in turn (then 200) and
// records what it got.
type endpoint struct {
	mu     sync.Mutex
	got    []received
	answer []int
	retry  string // Retry-After sent with a non-2xx answer
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.got = append(e.got, received{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), b})
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

func signed(t *testing.T, s webhook.Store) {
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	d, err := webhook.New(s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: secret, Events: []string{webhook.BatchCompleted}}},
		Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ev := webhook.NewEvent(webhook.BatchCompleted, "t1", "batch_1", clk.Now())
	other := webhook.NewEvent(webhook.ResponseFailed, "t1", "resp_1", clk.Now())
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
	// The Standard Webhooks signature, computed here without the library.
	mac := hmac.New(sha256.New, key)
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
		p.Data.ID != "batch_1" || p.CreatedAt != clk.Now().Unix() {
		t.Fatalf("payload %s: %v", r.body, err)
	}
	ds, _, err := s.Deliveries(t.Context(), webhook.Page{State: webhook.Delivered, Limit: 10})
	if err != nil || len(ds) != 1 || ds[0].Attempts != 1 || ds[0].DeliveredAt == nil || ds[0].LastStatus != 200 {
		t.Fatalf("delivered: %+v %v", ds, err)
	}
	if strings.Contains(string(must(json.Marshal(ds))), secret) {
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
	ep := &endpoint{answer: []int{500, 503, 500, 500}, retry: "120"}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	d, err := webhook.New(s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: secret}},
		Now: clk.Now, Rand: func() float64 { return 0.5 }, MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ev := webhook.NewEvent(webhook.ResponseCompleted, "t1", "resp_9", clk.Now())
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
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	clk := &clock{now: time.Now().UTC()}
	ev := webhook.NewEvent(webhook.ChatCompleted, "t1", "chatjob_1", clk.Now())
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
		x, err := webhook.New(s, webhook.Options{Endpoints: []webhook.Endpoint{{URL: srv.URL, Secret: secret}}, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, x)
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
