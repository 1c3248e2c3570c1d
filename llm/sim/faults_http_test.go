package sim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

const (
	plainBody  = `{"model":"chat","messages":[{"role":"user","content":"x"}]}`
	streamBody = `{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`
)

// faultServer serves a simulator whose chat model always has f (and gives
// ten-token answers), on loopback.
func faultServer(t *testing.T, f config.Faults) (url string, client *http.Client) {
	t.Helper()
	srv := newServer(t, withFaults(t, f))
	// A client of its own: no connection is reused across tests.
	client = &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	return srv.URL + "/v1/chat/completions", client
}

// countTokens counts the content events of a stream.
func countTokens(events []sseEvent) int {
	n := 0
	for _, e := range events {
		if strings.Contains(e.data, `"delta":{"content":`) {
			n++
		}
	}
	return n
}

func TestHTTPErrorRates(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		typ        string
	}{
		{429, "3", "requests"},
		{500, "", "server_error"},
		{502, "", "server_error"},
		{503, "3", "server_error"},
	} {
		url, client := faultServer(t, config.Faults{ErrorRates: map[int]float64{tc.status: 1}, RetryAfter: config.Duration(3 * time.Second)})
		for _, body := range []string{plainBody, streamBody} {
			resp, b := post(t, client, url, body)
			wantAPIError(t, resp, b, tc.status)
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("%d: Retry-After %q, want %q", tc.status, got, tc.retryAfter)
			}
			if !strings.Contains(string(b), `"type":"`+tc.typ+`"`) {
				t.Errorf("%d: body %s", tc.status, b)
			}
			if tc.status == 429 && (resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" || resp.Header.Get("X-Ratelimit-Reset-Requests") != "3s") {
				t.Errorf("429 without x-ratelimit headers: %v", resp.Header)
			}
		}
	}
}

func TestHTTPReset(t *testing.T) {
	url, client := faultServer(t, config.Faults{Reset: always(0, 0)})
	for _, body := range []string{plainBody, streamBody} {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got status %d, want a connection error", resp.StatusCode)
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("error %v, want a connection reset (RST)", err)
		}
	}
}

func TestHTTPContentFilter(t *testing.T) {
	url, client := faultServer(t, config.Faults{ContentFilter: always(0, 0)})
	resp, b := post(t, client, url, streamBody)
	if code, param := wantAPIError(t, resp, b, 400); code != "content_filter" || param != "prompt" {
		t.Errorf("content filter: %s", b)
	}
}

func TestHTTPCut(t *testing.T) {
	url, client := faultServer(t, config.Faults{Cut: always(4, 0)})
	resp, err := client.Post(url, "application/json", strings.NewReader(streamBody))
	if err != nil {
		t.Fatal(err)
	}
	events, err := readSSE(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("stream ended with %v, want an unexpected EOF", err)
	}
	if n := countTokens(events); n != 4 || len(events) != 5 {
		t.Errorf("%d events, %d tokens before the cut, want 5 and 4", len(events), n)
	}

	resp, err = client.Post(url, "application/json", strings.NewReader(plainBody))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("plain answer: status %d, read error %v, want 200 and an unexpected EOF", resp.StatusCode, err)
	}
}

func TestHTTPMalformed(t *testing.T) {
	url, client := faultServer(t, config.Faults{Malformed: always(3, 0)})
	resp, err := client.Post(url, "application/json", strings.NewReader(streamBody))
	if err != nil {
		t.Fatal(err)
	}
	events, err := readSSE(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 5 || events[4].data != "{not json" || countTokens(events[:4]) != 3 || events[len(events)-1].data != "[DONE]" {
		t.Errorf("events = %v", events)
	}
	if countTokens(events) != 10 {
		t.Errorf("the stream did not go on after the malformed event: %v", events)
	}

	resp, b := post(t, client, url, plainBody)
	if resp.StatusCode != 200 || string(b) != "{not json" {
		t.Errorf("plain answer: %d %s", resp.StatusCode, b)
	}
}

func TestHTTPNoDone(t *testing.T) {
	url, client := faultServer(t, config.Faults{NoDone: always(0, 0)})
	resp, err := client.Post(url, "application/json", strings.NewReader(streamBody))
	if err != nil {
		t.Fatal(err)
	}
	events, err := readSSE(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("stream ended with %v, want a clean end", err)
	}
	last := events[len(events)-1].data
	if !strings.Contains(last, `"choices":[],"usage":{`) {
		t.Errorf("last event %s, want the usage chunk and no [DONE]", last)
	}
}

// TestHTTPTiming checks the faults that are about time over an in-memory
// network, in a bubble whose clock only moves when everything waits.
func TestHTTPTiming(t *testing.T) {
	stream := func(t *testing.T, f config.Faults, ctx context.Context) (time.Time, []sseEvent, error) {
		s := withFaults(t, f)
		p, client := newPipeNet(s.Handler())
		defer p.stop(client)
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://sim/v1/chat/completions", strings.NewReader(streamBody))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events, err := readSSE(resp.Body)
		return start, events, err
	}
	t.Run("hang", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := withFaults(t, config.Faults{Hang: always(0, 0)})
			p, client := newPipeNet(s.Handler())
			defer p.stop(client)
			for _, body := range []string{plainBody, streamBody} {
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				start := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://sim/v1/chat/completions", strings.NewReader(body))
				resp, err := client.Do(req)
				cancel()
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got status %d from a hanging server", resp.StatusCode)
				}
				if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Hour {
					t.Errorf("error %v after %s, want the client's deadline after 1h", err, time.Since(start))
				}
			}
			// p.stop returns, and the bubble ends without a goroutine left:
			// the handlers saw the clients go away.
		})
	})
	t.Run("stall", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start, events, err := stream(t, config.Faults{Stall: always(3, ms(20_000))}, t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// role, three tokens, the stall, seven tokens, finish, usage, [DONE]
			if len(events) != 14 || events[3].at.Sub(start) != 0 || events[4].at.Sub(start) != 20*time.Second {
				t.Errorf("events at %v", since(start, events))
			}
		})
	})
	t.Run("stall forever", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			start, events, err := stream(t, config.Faults{Stall: always(2, 0)}, ctx)
			if !errors.Is(err, context.DeadlineExceeded) || countTokens(events) != 2 || time.Since(start) != time.Minute {
				t.Errorf("%d tokens, then %v after %s", countTokens(events), err, time.Since(start))
			}
		})
	})
	t.Run("slow first token", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start, events, err := stream(t, config.Faults{SlowFirstToken: always(0, ms(1500))}, t.Context())
			if err != nil || events[0].at.Sub(start) != 1500*time.Millisecond || events[len(events)-1].at.Sub(start) != 1500*time.Millisecond {
				t.Errorf("events at %v (%v)", since(start, events), err)
			}
		})
	})
	t.Run("latency", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newTestSim(t, func(m *config.SimModel) {
				m.TTFT, m.ITL = fixed(ms(200)), fixed(ms(20))
				m.OutputTokens = config.Range{Min: 3, Max: 3}
			})
			p, client := newPipeNet(s.Handler())
			defer p.stop(client)
			start := time.Now()
			resp, err := client.Post("http://sim/v1/chat/completions", "application/json", strings.NewReader(streamBody))
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) != 0 {
				t.Errorf("headers after %s, want at once", time.Since(start))
			}
			events, err := readSSE(resp.Body)
			resp.Body.Close()
			got := since(start, events)
			want := []time.Duration{200, 200, 220, 240, 240, 240, 240}
			for i := range want {
				want[i] *= time.Millisecond
			}
			if err != nil || len(got) != len(want) {
				t.Fatalf("events at %v (%v), want %v", got, err, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("events at %v, want %v", got, want)
				}
			}
			start = time.Now()
			resp, _ = post(t, client, "http://sim/v1/chat/completions", plainBody)
			if resp.StatusCode != 200 || time.Since(start) != 240*time.Millisecond {
				t.Errorf("plain answer %d after %s, want 240ms", resp.StatusCode, time.Since(start))
			}
		})
	})
}

func since(start time.Time, events []sseEvent) []time.Duration {
	out := make([]time.Duration, len(events))
	for i, e := range events {
		out[i] = e.at.Sub(start)
	}
	return out
}

func TestHTTPEmbedFaults(t *testing.T) {
	serve := func(f config.Faults) string {
		s := New("testsim", 1, map[string]config.SimModel{embedModel: {Kind: "embedding", Faults: f}})
		return newServer(t, s).URL + "/v1/embeddings"
	}
	const body = `{"model":"embed","input":["one","two"]}`
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, b := post(t, client, serve(config.Faults{Malformed: always(0, 0)}), body)
	if resp.StatusCode != 200 || string(b) != "{not json" {
		t.Errorf("malformed: %d %s", resp.StatusCode, b)
	}
	resp, err := client.Post(serve(config.Faults{Cut: always(0, 0)}), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut: read error %v, want an unexpected EOF", err)
	}
	resp, b = post(t, client, serve(config.Faults{ErrorRates: map[int]float64{500: 1}}), body)
	wantAPIError(t, resp, b, 500)
}
