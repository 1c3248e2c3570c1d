package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const capacityConfig = `
log: {level: warn}
server: {max_inflight: 100, max_queued: 10}
providers:
  s: {type: sim, models: {m: {ttft: {p50: 300ms}, output_tokens: {min: 4, max: 4}}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    capacity: {initial_limit: 1, max_limit: 1, queue: 1, critical_reserve: 0}
`

type capacityState struct {
	MaxInflight int64 `json:"max_inflight"`
	Targets     []targetState
}

// target returns the state of a target, the zero state if absent.
func (s capacityState) target(name string) targetState {
	for _, t := range s.Targets {
		if t.Target == name {
			return t
		}
	}
	return targetState{}
}

type targetState struct {
	Target   string
	Limit    float64
	Inflight int
	Queued   map[string]int
	Shed     map[string]map[string]int64
}

func (ts *testServer) capacity(t *testing.T) capacityState {
	t.Helper()
	resp, body := ts.do(t, "GET", "/admin/v1/capacity", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/v1/capacity: %d %s", resp.StatusCode, body)
	}
	var s capacityState
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A target whose limit and queue are full sheds the next request at once
// with 503, Retry-After and the reason; the admin API and the metrics show
// the limit, the queue and the shed count.
func TestCapacityShedsWith503AndShowsItsState(t *testing.T) {
	ts := start(t, capacityConfig)
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	var wg sync.WaitGroup
	for range 2 { // one in flight, one queued
		wg.Go(func() {
			if resp, body := ts.do(t, "POST", "/v1/chat/completions", chat); resp.StatusCode != 200 {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := ts.capacity(t)
		if i := slices.IndexFunc(s.Targets, func(t targetState) bool { return t.Target == "s/m" }); i >= 0 &&
			s.Targets[i].Inflight == 1 && s.Targets[i].Queued["interactive"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target never had one call in flight and one queued: %+v", s)
		}

		time.Sleep(5 * time.Millisecond)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chat)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), `"code":"queue_full"`) {
		t.Errorf("third request: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	wg.Wait()

	s := ts.capacity(t)
	if sm := s.target("s/m"); s.MaxInflight != 100 || sm.Limit != 1 || sm.Shed["interactive"]["queue_full"] != 1 {
		t.Errorf("capacity state = %+v", s)
	}
	_, metrics := ts.do(t, "GET", "/metrics", "")
	for _, want := range []string{`bulwark_adaptive_limit{scope="s/m"} 1`, `bulwark_shed_total{`, `bulwark_queue_depth{class="batch"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The priority class a client asks for (x-bulwark-priority, or OpenAI's
// service_tier) reaches admission control; an unknown class is a 400.
func TestPriorityFromHeaderAndServiceTierReachesAdmission(t *testing.T) {
	ts := start(t, capacityConfig)
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chat, "X-Bulwark-Priority", "urgent")
	mustOpenAIError(t, resp, body, 400, "")

	var wg sync.WaitGroup
	for range 2 { // one in flight, one queued
		wg.Go(func() { ts.do(t, "POST", "/v1/chat/completions", chat) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := ts.capacity(t)
		if i := slices.IndexFunc(s.Targets, func(t targetState) bool { return t.Target == "s/m" }); i >= 0 &&
			s.Targets[i].Inflight == 1 && s.Targets[i].Queued["interactive"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target never filled: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Both batch requests find the queue full and, being least important,
	// are shed — counted under their class.
	ts.do(t, "POST", "/v1/chat/completions", chat, "X-Bulwark-Priority", "batch")
	ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}],"service_tier":"flex"}`)
	wg.Wait()
	var batch int64
	for _, n := range ts.capacity(t).target("s/m").Shed["batch"] {
		batch += n
	}
	if batch != 2 {
		t.Errorf("batch sheds = %d, want 2 (header and service_tier)", batch)
	}
}

// A client that sends its headers and then stalls on the body is cut off
// once server.read_timeout has passed: it cannot hold a connection and
// a request slot for ever.
func TestStalledBodyIsCutAfterReadTimeout(t *testing.T) {
	ts := start(t, "log: {level: warn}\nserver: {read_timeout: 200ms}\n")
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: bulwark\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":", testAdminKey)
	// The safety bound only keeps a broken server from hanging the test;
	// what is checked is that the server ends the connection.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the connection was not closed by the server: %v", err)
	}
	// Whatever the server said before closing, it did not serve the
	// request it never received whole.
	if strings.HasPrefix(string(got), "HTTP/1.1 2") {
		t.Errorf("a request whose body never arrived was answered: %.200s", got)
	}
}

// Headers beyond server.max_header_bytes are refused with 431 in
// OpenAI's error format (net/http refuses them before any handler runs,
// with its own slack of 4 KiB; api.WithJSONRawErrors rewrites its
// answer); headers within it pass.
func TestOversizedHeadersAreRefused(t *testing.T) {
	ts := start(t, "log: {level: warn}\nserver: {max_header_bytes: 4096}\n")
	if resp, body := ts.do(t, "GET", "/v1/models", "", "X-Filler", strings.Repeat("a", 3<<10)); resp.StatusCode != http.StatusOK {
		t.Fatalf("3 KiB of headers: status %d: %s", resp.StatusCode, body)
	}
	resp, body := ts.do(t, "GET", "/v1/models", "", "X-Filler", strings.Repeat("a", 16<<10))
	var e struct {
		Error struct{ Type, Code, Message string }
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || json.Unmarshal(body, &e) != nil ||
		e.Error.Code != "request_header_fields_too_large" || !strings.Contains(e.Error.Message, "4096") {
		t.Fatalf("16 KiB of headers: status %d, %s; want a 431 in OpenAI's format", resp.StatusCode, body)
	}
}

// A response that is not an event stream has a write deadline: a client
// that stops reading makes the write fail instead of holding the
// connection. An event stream is left to bound its own writes.
func TestWriteDeadlineForNonStreamingResponses(t *testing.T) {
	wrote := make(chan error, 1)
	srv := httptest.NewServer(withWriteDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			time.Sleep(300 * time.Millisecond) // past the deadline a JSON answer would have
			_, err := io.WriteString(w, "data: {}\n\n")
			wrote <- err
			return
		}
		w.Header().Set("Content-Type", "application/json")
		chunk := make([]byte, 1<<20)
		for range 1024 { // far more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}), 100*time.Millisecond))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /json HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	if err := <-wrote; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a client that does not read: %v, want the write deadline", err)
	}

	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := <-wrote; err != nil {
		t.Fatalf("an event stream's write after the JSON deadline: %v", err)
	}
}
