package app

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// longConfig serves streams that outlive a short shutdown grace: 100
// tokens, 50ms apart.
const longConfig = `
log: {level: warn}
server: {shutdown_grace: 300ms}
providers:
  sim:
    type: sim
    models:
      long-chat:
        ttft: {p50: 10ms}
        itl: {p50: 50ms}
        output_tokens: {min: 100, max: 100}
models:
  - name: long
    targets: [{provider: sim, model: long-chat}]
`

// TestShutdownGraceEndsStreamsWithErrorAndKeepsUsage stops a server
// whose streams and calls outlive its shutdown grace: every stream ends
// with an error event naming the shutdown (never a bare EOF, never
// [DONE]), every call gets a 503 saying so, and every request's usage
// record is in the ledger once the app is closed.
func TestShutdownGraceEndsStreamsWithErrorAndKeepsUsage(t *testing.T) {
	const streams, calls = 5, 2
	ts := start(t, longConfig)
	post := func(stream bool) *http.Response {
		body := `{"model":"long","messages":[{"role":"user","content":"hi"}]}`
		if stream {
			body = `{"model":"long","messages":[{"role":"user","content":"hi"}],"stream":true}`
		}
		req, _ := http.NewRequest("POST", ts.url+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return nil
		}
		return resp
	}

	// The streams are under way: each has sent its first event.
	type open struct {
		resp *http.Response
		rd   *bufio.Reader
	}
	var ss []open
	for range streams {
		resp := post(true)
		if resp == nil {
			t.FailNow()
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("first line of the stream = %q, %v", line, err)
		}
		ss = append(ss, open{resp, rd})
	}
	// The calls are under way too (the server answers them only after
	// five seconds).
	var wg sync.WaitGroup
	callResp := make([]*http.Response, calls)
	callBody := make([][]byte, calls)
	for i := range calls {
		wg.Go(func() {
			if resp := post(false); resp != nil {
				defer resp.Body.Close()
				callResp[i] = resp
				callBody[i], _ = io.ReadAll(resp.Body)
			}
		})
	}
	for deadline := time.Now().Add(5 * time.Second); ts.app.active.running() < streams+calls; {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight, want %d", ts.app.active.running(), streams+calls)
		}
		time.Sleep(5 * time.Millisecond)
	}

	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()

	for i, s := range ss {
		rest, err := io.ReadAll(s.rd)
		if err != nil {
			t.Errorf("stream %d: the body did not end cleanly: %v", i, err)
		}
		ev := sseEvents(t, strings.NewReader(string(rest)))
		if len(ev) == 0 {
			t.Fatalf("stream %d ended with no event after the shutdown grace", i)
		}
		last := ev[len(ev)-1]
		var e wireError
		if err := json.Unmarshal([]byte(last), &e); err != nil || e.Error.Code == nil || *e.Error.Code != "server_shutting_down" {
			t.Errorf("stream %d: last event %q, want an error event with code server_shutting_down", i, last)
		}
		for _, d := range ev {
			if d == "[DONE]" {
				t.Errorf("stream %d: a stream cut by the shutdown ended with [DONE]", i)
			}
		}
	}
	wg.Wait()
	for i, resp := range callResp {
		if resp == nil {
			continue
		}
		mustOpenAIError(t, resp, callBody[i], http.StatusServiceUnavailable, "server_shutting_down")
	}
	<-stopped

	if st := ts.app.usage.Stats(); st.Dropped != 0 {
		t.Errorf("usage writer dropped %d records", st.Dropped)
	}
	db, err := sql.Open("sqlite", filepath.Join(ts.app.Config().DataDir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT stream, status, COUNT(*) FROM usage_records WHERE alias = 'long' GROUP BY stream, status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var stream bool
		var status string
		var n int
		if err := rows.Scan(&stream, &status, &n); err != nil {
			t.Fatal(err)
		}
		kind := "call"
		if stream {
			kind = "stream"
		}
		got[kind+" "+status] += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"stream server_shutting_down": streams, "call server_shutting_down": calls}
	if len(got) != len(want) || got["stream server_shutting_down"] != streams || got["call server_shutting_down"] != calls {
		t.Errorf("usage records by kind and status = %v, want %v", got, want)
	}
}
