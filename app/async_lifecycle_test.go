package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// heldUpstream is a simulator served over HTTP that records the last
// user message of each chat request it gets, and holds the requests
// whose message starts with "hold" until released or cancelled.
type heldUpstream struct {
	sim       http.Handler
	mu        sync.Mutex
	asked     []string
	held      chan string   // a held request arrived
	cancelled chan string   // a held request's client went away
	release   chan struct{} // closed: held requests go on
	freeOnce  sync.Once
}

// free lets the held requests go on.
func (u *heldUpstream) free() { u.freeOnce.Do(func() { close(u.release) }) }

func newHeldUpstream() *heldUpstream {
	s := sim.New("up", 1, map[string]config.SimModel{"m": {OutputTokens: config.Range{Min: 5, Max: 5}}})
	return &heldUpstream{sim: s.Handler(), held: make(chan string, 8), cancelled: make(chan string, 8), release: make(chan struct{})}
}

func (u *heldUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req struct {
		Messages []struct{ Content string }
	}
	_ = json.Unmarshal(b, &req)
	text := ""
	if n := len(req.Messages); n > 0 {
		text = req.Messages[n-1].Content
	}
	u.mu.Lock()
	u.asked = append(u.asked, text)
	u.mu.Unlock()
	if strings.HasPrefix(text, "hold") {
		u.held <- text
		select {
		case <-u.release:
		case <-r.Context().Done():
			u.cancelled <- text
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	u.sim.ServeHTTP(w, r)
}

func (u *heldUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.asked...)
}

// backgroundResponse creates a background response and returns its id.
func backgroundResponse(t *testing.T, ts *testServer, input string) string {
	t.Helper()
	resp, body := ts.do(t, "POST", "/v1/responses", fmt.Sprintf(`{"model":"chat","input":%q,"background":true}`, input))
	var r struct{ ID, Status string }
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || r.Status != "queued" {
		t.Fatalf("create %q: %d %s %v", input, resp.StatusCode, body, err)
	}
	return r.ID
}

// responseStatus returns GET /v1/responses/{id}'s status code and the
// response's status.
func responseStatus(t *testing.T, ts *testServer, id string) (int, string) {
	t.Helper()
	resp, body := ts.do(t, "GET", "/v1/responses/"+id, "")
	var r struct{ Status string }
	_ = json.Unmarshal(body, &r)
	return resp.StatusCode, r.Status
}

// oneWorkerBehindHeldUpstream starts Bulwark with one async worker in
// front of an upstream that holds requests until told (newHeldUpstream),
// and a webhook sink.
func oneWorkerBehindHeldUpstream(t *testing.T) (*heldUpstream, *hookSink, *testServer) {
	t.Helper()
	up := newHeldUpstream()
	upstream := httptest.NewServer(up)
	// After Bulwark stops (cleanups run last first): a request still
	// held would keep Close waiting.
	t.Cleanup(upstream.Close)
	t.Cleanup(up.free)
	sink := &hookSink{}
	hooks := httptest.NewServer(sink)
	t.Cleanup(hooks.Close)
	ts := start(t, `
log: {level: warn}
providers:
  up: {type: openai, base_url: `+upstream.URL+`/v1}
models:
  - name: chat
    targets: [{provider: up, model: m}]
async: {workers: 1, priority: interactive}
webhooks:
  - url: `+hooks.URL+`
    secret: `+hookSecret+`
`)
	return up, sink, ts
}

// deleteOnce deletes the object id at path and checks that the answer is
// OpenAI's deletion object of kind object, and that the object is gone:
// GET and a second DELETE are 404.
func deleteOnce(t *testing.T, ts *testServer, path, id, object string) {
	t.Helper()
	resp, body := ts.do(t, "DELETE", path, "")
	var del struct {
		ID, Object string
		Deleted    bool
	}
	if err := json.Unmarshal(body, &del); err != nil || resp.StatusCode != 200 || del.ID != id || del.Object != object || !del.Deleted {
		t.Fatalf("DELETE %s: %d %s %v", id, resp.StatusCode, body, err)
	}
	if resp, body := ts.do(t, "GET", path, ""); resp.StatusCode != 404 {
		t.Fatalf("GET after DELETE %s: %d %s", id, resp.StatusCode, body)
	}
	if resp, body := ts.do(t, "DELETE", path, ""); resp.StatusCode != 404 {
		t.Fatalf("second DELETE %s: %d %s", id, resp.StatusCode, body)
	}
}

// A background response deleted while it is queued never reaches the
// upstream; one deleted while it runs has its upstream call cut off;
// both are gone at once (GET and DELETE are 404) and stay gone, and each
// ends cancelled once: one response.cancelled event each.
func TestDeleteBackgroundResponse(t *testing.T) {
	up, sink, ts := oneWorkerBehindHeldUpstream(t)
	running := backgroundResponse(t, ts, "hold the first")
	if got := <-up.held; got != "hold the first" {
		t.Fatalf("held %q", got)
	}
	if code, status := responseStatus(t, ts, running); code != 200 || status != "in_progress" {
		t.Fatalf("running: %d %s", code, status)
	}
	// The one worker is busy: this one waits in the queue.
	queued := backgroundResponse(t, ts, "the second")
	if code, status := responseStatus(t, ts, queued); code != 200 || status != "queued" {
		t.Fatalf("queued: %d %s", code, status)
	}

	for _, id := range []string{queued, running} {
		deleteOnce(t, ts, "/v1/responses/"+id, id, "response")
	}
	// The running one's upstream call was cut off by the delete.
	if got := <-up.cancelled; got != "hold the first" {
		t.Fatalf("cancelled upstream call %q", got)
	}

	// The worker is free: the next one runs, and the deleted queued one,
	// older, was never claimed before it.
	next := backgroundResponse(t, ts, "the third")
	for {
		code, status := responseStatus(t, ts, next)
		if code != 200 {
			t.Fatalf("poll: %d", code)
		}
		if status == "completed" {
			break
		}
		if status != "queued" && status != "in_progress" {
			t.Fatalf("the third: %s", status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, want := up.requests(), []string{"hold the first", "the third"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the upstream was asked %q, want %q", got, want)
	}
	for _, id := range []string{queued, running} {
		if code, _ := responseStatus(t, ts, id); code != 404 {
			t.Fatalf("GET %s after the queue moved on: %d", id, code)
		}
	}

	sink.wait(t, "response.cancelled", queued)
	sink.wait(t, "response.cancelled", running)
	sink.wait(t, "response.completed", next)
	var page struct {
		Data []struct{ Type string }
	}
	if code := getJSON(t, ts, "/admin/v1/webhooks/deliveries", &page); code != 200 {
		t.Fatalf("deliveries: %d", code)
	}
	events := map[string]int{}
	for _, d := range page.Data {
		events[d.Type]++
	}
	if events["response.cancelled"] != 2 || events["response.completed"] != 1 || len(page.Data) != 3 {
		t.Fatalf("delivery log %+v", page.Data)
	}
}

// asyncChatJob creates an async chat completion of one user message and
// returns its id.
func asyncChatJob(t *testing.T, ts *testServer, content string) string {
	t.Helper()
	resp, body := ts.do(t, "POST", "/v1/chat/completions", fmt.Sprintf(`{"model":"chat","messages":[{"role":"user","content":%q}]}`, content),
		"X-Bulwark-Async", "true")
	var j struct{ ID, Status string }
	if err := json.Unmarshal(body, &j); err != nil || resp.StatusCode != http.StatusAccepted || j.Status != "queued" {
		t.Fatalf("async chat %q: %d %s %v", content, resp.StatusCode, body, err)
	}
	return j.ID
}

// asyncChatStatus returns GET /v1/chat/completions/async/{id}'s status
// code and the job's status, asked with the key given (none: the admin
// key).
func asyncChatStatus(t *testing.T, ts *testServer, id string, key ...string) (int, string) {
	t.Helper()
	var hdr []string
	if len(key) > 0 {
		hdr = []string{"Authorization", "Bearer " + key[0]}
	}
	resp, body := ts.do(t, "GET", "/v1/chat/completions/async/"+id, "", hdr...)
	var j struct{ Status string }
	_ = json.Unmarshal(body, &j)
	return resp.StatusCode, j.Status
}

// waitAsyncChat polls an async chat completion until it ends, and
// returns its status.
func waitAsyncChat(t *testing.T, ts *testServer, id string) string {
	t.Helper()
	for range 2000 {
		code, status := asyncChatStatus(t, ts, id)
		if code != 200 {
			t.Fatalf("poll %s: %d", id, code)
		}
		if status != "queued" && status != "in_progress" {
			return status
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("async chat completion %s did not end", id)
	return ""
}

// An async chat completion deleted while it is queued never reaches the
// upstream; one deleted while it runs has its upstream call cut off;
// both are gone at once (GET and DELETE are 404) and stay gone, and each
// ends cancelled once: one chat.completion.cancelled event each. Another
// tenant's key can neither see nor delete a job.
func TestDeleteAsyncChatCompletion(t *testing.T) {
	up, sink, ts := oneWorkerBehindHeldUpstream(t)
	running := asyncChatJob(t, ts, "hold the first")
	if got := <-up.held; got != "hold the first" {
		t.Fatalf("held %q", got)
	}
	if code, status := asyncChatStatus(t, ts, running); code != 200 || status != "in_progress" {
		t.Fatalf("running: %d %s", code, status)
	}
	// The one worker is busy: this one waits in the queue.
	queued := asyncChatJob(t, ts, "the second")
	if code, status := asyncChatStatus(t, ts, queued); code != 200 || status != "queued" {
		t.Fatalf("queued: %d %s", code, status)
	}

	// Another tenant's key finds neither job, and deletes neither.
	_, other := createKey(t, ts, `{"id":"globex","name":"Globex"}`, `{"tenant_id":"globex","name":"app"}`)
	for _, id := range []string{queued, running} {
		if resp, body := ts.do(t, "DELETE", "/v1/chat/completions/async/"+id, "", "Authorization", "Bearer "+other); resp.StatusCode != 404 {
			t.Fatalf("another tenant's DELETE %s: %d %s", id, resp.StatusCode, body)
		}
		if code, _ := asyncChatStatus(t, ts, id, other); code != 404 {
			t.Fatalf("another tenant's GET %s: %d", id, code)
		}
	}
	if code, status := asyncChatStatus(t, ts, queued); code != 200 || status != "queued" {
		t.Fatalf("queued after another tenant's DELETE: %d %s", code, status)
	}

	for _, id := range []string{queued, running} {
		deleteOnce(t, ts, "/v1/chat/completions/async/"+id, id, "chat.completion.deleted")
	}
	// The running one's upstream call was cut off by the delete.
	if got := <-up.cancelled; got != "hold the first" {
		t.Fatalf("cancelled upstream call %q", got)
	}

	// The worker is free: the next one runs, and the deleted queued one,
	// older, was never claimed before it.
	next := asyncChatJob(t, ts, "the third")
	if status := waitAsyncChat(t, ts, next); status != "completed" {
		t.Fatalf("the third: %s", status)
	}
	if got, want := up.requests(), []string{"hold the first", "the third"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the upstream was asked %q, want %q", got, want)
	}
	for _, id := range []string{queued, running} {
		if code, _ := asyncChatStatus(t, ts, id); code != 404 {
			t.Fatalf("GET %s after the queue moved on: %d", id, code)
		}
	}
	// A completed one is deleted with its result.
	if resp, body := ts.do(t, "DELETE", "/v1/chat/completions/async/"+next, ""); resp.StatusCode != 200 {
		t.Fatalf("DELETE completed: %d %s", resp.StatusCode, body)
	}
	if code, _ := asyncChatStatus(t, ts, next); code != 404 {
		t.Fatalf("GET after DELETE of the completed one: %d", code)
	}
	// A background response is not an async chat completion.
	resp := backgroundResponse(t, ts, "the fourth")
	if r, body := ts.do(t, "DELETE", "/v1/chat/completions/async/"+resp, ""); r.StatusCode != 404 {
		t.Fatalf("DELETE of a background response as an async chat completion: %d %s", r.StatusCode, body)
	}

	sink.wait(t, "chat.completion.cancelled", queued)
	sink.wait(t, "chat.completion.cancelled", running)
	sink.wait(t, "chat.completion.completed", next)
	sink.wait(t, "response.completed", resp)
	var page struct {
		Data []struct{ Type string }
	}
	if code := getJSON(t, ts, "/admin/v1/webhooks/deliveries", &page); code != 200 {
		t.Fatalf("deliveries: %d", code)
	}
	events := map[string]int{}
	for _, d := range page.Data {
		events[d.Type]++
	}
	if events["chat.completion.cancelled"] != 2 || events["chat.completion.completed"] != 1 || len(page.Data) != 4 {
		t.Fatalf("delivery log %+v", page.Data)
	}
}

// At async.priority batch a job takes only a target's spare capacity, as
// a batch line does: while interactive requests hold the limit less what
// spare work leaves free (the critical reserve and a headroom), a job is
// not admitted — it neither takes the permit still free nor queues —
// and a live request that arrives after it goes first; once the live
// requests end, it runs and completes.
func TestAsyncBatchPriorityTakesSpareCapacity(t *testing.T) {
	up := newHeldUpstream()
	upstream := httptest.NewServer(up)
	t.Cleanup(upstream.Close)
	t.Cleanup(up.free)
	// A limit of 3: 2 for interactive and batch work (the default
	// critical reserve of 0.2 keeps 1), of which spare work leaves 1 free.
	ts := start(t, `
log: {level: warn}
providers:
  up: {type: openai, base_url: `+upstream.URL+`/v1}
models:
  - name: chat
    targets: [{provider: up, model: m}]
    capacity: {initial_limit: 3, min_limit: 3, max_limit: 3}
async: {workers: 1, priority: batch}
`)
	live := func(content string) {
		if resp, body := ts.do(t, "POST", "/v1/chat/completions", fmt.Sprintf(`{"model":"chat","messages":[{"role":"user","content":%q}]}`, content)); resp.StatusCode != 200 {
			t.Errorf("live %q: %d %s", content, resp.StatusCode, body)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer up.free() // first: the held one ends
	wg.Go(func() { live("hold the live one") })
	if got := <-up.held; got != "hold the live one" {
		t.Fatalf("held %q", got)
	}

	id := asyncChatJob(t, ts, "the job")
	// The job's request is in the gateway: past the process gate, at
	// batch priority.
	type snapshot struct {
		Inflight int64
		Admitted map[string]int64
		Targets  []targetState
	}
	var s snapshot
	for i := 0; s.Admitted["batch"] == 0; i++ {
		if i == 2000 {
			t.Fatalf("the job's request never reached the gateway: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
		s = snapshot{}
		if code := getJSON(t, ts, "/admin/v1/capacity", &s); code != 200 {
			t.Fatalf("capacity: %d", code)
		}
	}
	if s.Inflight != 2 {
		t.Fatalf("in flight in the process: %d, want the live one and the job", s.Inflight)
	}
	// A live request that comes after it takes the permit the job would
	// have had.
	live("the next live one")
	if code, status := asyncChatStatus(t, ts, id); code != 200 || status != "in_progress" {
		t.Fatalf("the job while the live one runs: %d %s", code, status)
	}
	if got, want := up.requests(), []string{"hold the live one", "the next live one"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the upstream was asked %q while the live one ran, want %q", got, want)
	}
	if code := getJSON(t, ts, "/admin/v1/capacity", &s); code != 200 {
		t.Fatalf("capacity: %d", code)
	}
	var target targetState
	for _, tg := range s.Targets {
		if tg.Target == "up/m" {
			target = tg
		}
	}
	if target.Target == "" || target.Inflight != 1 || target.Queued["batch"] != 0 {
		t.Fatalf("the job took a permit or queued for the target: %+v", target)
	}

	// The live one ends: the job runs and completes.
	up.free()
	if status := waitAsyncChat(t, ts, id); status != "completed" {
		t.Fatalf("the job: %s", status)
	}
	if got, want := up.requests(), []string{"hold the live one", "the next live one", "the job"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the upstream was asked %q, want %q", got, want)
	}
}

// The webhook endpoints follow a config reload: the events after it go
// to the endpoints it names, signed with their secrets, and no longer to
// an endpoint it removed.
func TestReloadWebhookEndpoints(t *testing.T) {
	before, after := &hookSink{}, &hookSink{}
	beforeSrv, afterSrv := httptest.NewServer(before), httptest.NewServer(after)
	defer beforeSrv.Close()
	defer afterSrv.Close()
	ts := start(t, asyncConfig(beforeSrv.URL))
	asyncChat := func() string {
		t.Helper()
		return asyncChatJob(t, ts, "hi")
	}
	first := asyncChat()
	before.wait(t, "chat.completion.completed", first)

	newKey := []byte("the rotated webhook secret 98765")
	newSecret := "whsec_" + base64.StdEncoding.EncodeToString(newKey)
	cfg := fastConfig + "async: {priority: interactive}\nwebhooks:\n  - url: " + afterSrv.URL + "\n    secret: " + newSecret + "\n"
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}
	second := asyncChat()
	hdr, body := after.wait(t, "chat.completion.completed", second)
	mac := hmac.New(sha256.New, newKey)
	mac.Write([]byte(hdr.Get("webhook-id") + "." + hdr.Get("webhook-timestamp") + "." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); hdr.Get("webhook-signature") != want {
		t.Fatalf("signature %q, want one with the reloaded secret %q", hdr.Get("webhook-signature"), want)
	}
	// The second event was fanned out to the reloaded endpoint only.
	var page struct {
		Data []struct{ Endpoint, Type string }
	}
	if code := getJSON(t, ts, "/admin/v1/webhooks/deliveries", &page); code != 200 {
		t.Fatalf("deliveries: %d", code)
	}
	to := map[string][]string{}
	for _, d := range page.Data {
		to[d.Endpoint] = append(to[d.Endpoint], d.Type)
	}
	if len(page.Data) != 2 || len(to[beforeSrv.URL]) != 1 || len(to[afterSrv.URL]) != 1 {
		t.Fatalf("deliveries by endpoint %v", to)
	}

	// A reload whose webhook secret is bad keeps the endpoints in force.
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(fastConfig+"webhooks:\n  - url: "+beforeSrv.URL+"\n    secret: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err == nil {
		t.Fatal("a bad webhook secret reloaded")
	}
	third := asyncChat()
	after.wait(t, "chat.completion.completed", third)
}

// The async purge deletes the webhook deliveries that ended longer than
// async.webhook_retention ago (default 7 days), and no newer ones.
func TestAsyncPurgeWebhookDeliveries(t *testing.T) {
	sink := &hookSink{}
	hooks := httptest.NewServer(sink)
	defer hooks.Close()
	ts := start(t, asyncConfig(hooks.URL))
	res := post(t, ts, "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Bulwark-Async": "true"})
	var j struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "chat.completion.completed", j.ID)
	deliveries := func() int {
		t.Helper()
		var page struct{ Data []struct{ State string } }
		for range 500 {
			if code := getJSON(t, ts, "/admin/v1/webhooks/deliveries", &page); code != 200 {
				t.Fatalf("deliveries: %d", code)
			}
			if len(page.Data) == 0 || page.Data[0].State != "pending" {
				break
			}
			time.Sleep(10 * time.Millisecond) // the endpoint answered; the log is written just after
		}
		return len(page.Data)
	}
	if n := deliveries(); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	ctx := context.Background()
	ts.app.purgeAsync(ctx, time.Now().Add(6*24*time.Hour))
	if n := deliveries(); n != 1 {
		t.Fatalf("%d deliveries after a purge within the retention, want 1", n)
	}
	ts.app.purgeAsync(ctx, time.Now().Add(8*24*time.Hour))
	if n := deliveries(); n != 0 {
		t.Fatalf("%d deliveries after a purge past the retention, want 0", n)
	}
}
