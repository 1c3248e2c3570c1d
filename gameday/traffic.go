package gameday

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sample is what one request of a drill measured.
type Sample struct {
	// At is when the request was scheduled, from the drill's start.
	// Latency runs from then, not from when it was sent, so that a
	// client falling behind shows as latency (no coordinated omission).
	At      time.Duration
	Latency time.Duration
	Class   string
	Stream  bool
	Status  int
	// Kind is "" for a request served in full; else what failed:
	// "type/code" of an OpenAI error (an HTTP error or a stream's error
	// event), "truncated" for a stream that ended without [DONE] and
	// without an error event, "connection" when no answer came.
	Kind string
	// Shed is a refusal for overload (a shed reason as the error code).
	Shed bool
}

// OK reports whether the request was served in full.
func (s Sample) OK() bool { return s.Kind == "" }

// Truncated is the Kind of a stream that ended silently before [DONE].
const Truncated = "truncated"

// shedReasons are the error codes of requests admission control refused
// (package shed's reasons).
var shedReasons = map[string]bool{
	"max_inflight": true, "max_queued": true, "queue_full": true, "deadline": true,
	"displaced": true, "queue_wait": true, "queue_delay": true, "reserved_full": true,
}

// segment is a stretch of constant-rate traffic.
type segment struct {
	d    time.Duration
	rate float64
}

// schedule returns the send times of open-loop traffic over segs: the
// i-th request of a segment is due at its start + i/rate, whatever
// happened to the earlier ones.
func schedule(segs []segment) []time.Duration {
	var at []time.Duration
	var start time.Duration
	for _, s := range segs {
		if s.rate > 0 {
			n := int(s.rate * s.d.Seconds())
			for i := range n {
				at = append(at, start+time.Duration(float64(i)/s.rate*float64(time.Second)))
			}
		}
		start += s.d
	}
	return at
}

// traffic sends a drill's requests.
type traffic struct {
	url     string // the deployment's base URL
	key     string
	alias   string
	timeout time.Duration // each request's X-Bulwark-Timeout
	hc      *http.Client
}

// maxInFlight bounds a drill's requests in flight: beyond it a due
// request is not sent and counts as a "dropped" error, so that a
// deployment that stops answering cannot exhaust the machine running the
// drill.
const maxInFlight = 2000

// run sends requests at the times of at, from start, each of a class
// drawn from mix and streaming with probability streamShare, and returns
// their samples in schedule order once every one has ended.
func (tr *traffic) run(ctx context.Context, start time.Time, at []time.Duration, mix map[string]float64, streamShare float64, seed uint64) []Sample {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	out := make([]Sample, len(at))
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i, d := range at {
		class, stream := pickClass(rng.Float64(), mix), rng.Float64() < streamShare
		out[i] = Sample{At: d, Class: class, Stream: stream}
		t := time.NewTimer(time.Until(start.Add(d)))
		select {
		case <-ctx.Done():
			t.Stop()
			wg.Wait()
			return out[:i]
		case <-t.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			out[i].Kind = "dropped"
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			tr.do(ctx, start.Add(d), &out[i])
		})
	}
	wg.Wait()
	return out
}

// pickClass draws a class from mix with u in [0, 1): interactive when the
// mix is empty.
func pickClass(u float64, mix map[string]float64) string {
	total := 0.0
	for _, c := range Classes {
		total += mix[c]
	}
	if total <= 0 {
		return "interactive"
	}
	acc := 0.0
	for _, c := range Classes {
		if acc += mix[c] / total; u < acc {
			return c
		}
	}
	return Classes[len(Classes)-1]
}

const prompt = `[{"role":"user","content":"Say in a sentence why a gateway keeps an application up."}]`

// do sends one request and fills in s. The deployment ends a request at
// its X-Bulwark-Timeout; the client gives up a little later, so that a
// deployment that does not cannot hold the drill.
func (tr *traffic) do(ctx context.Context, due time.Time, s *Sample) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(tr.timeout, time.Minute)+10*time.Second)
	defer cancel()
	// max_tokens bounds what a budget reserves for the answer.
	body := `{"model":` + quote(tr.alias) + `,"max_tokens":16,"messages":` + prompt + `}`
	if s.Stream {
		body = `{"model":` + quote(tr.alias) + `,"max_tokens":16,"stream":true,"messages":` + prompt + `}`
	}
	s.Status, s.Kind, s.Shed = tr.send(ctx, body, s.Class, s.Stream)
	s.Latency = time.Since(due)
}

// send posts a chat request and classifies its outcome.
func (tr *traffic) send(ctx context.Context, body, class string, stream bool) (status int, kind string, shed bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tr.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return 0, "connection", false
	}
	req.Header.Set("Authorization", "Bearer "+tr.key)
	req.Header.Set("Content-Type", "application/json")
	if class != "" {
		req.Header.Set("X-Bulwark-Priority", class)
	}
	if tr.timeout > 0 {
		req.Header.Set("X-Bulwark-Timeout", tr.timeout.String())
	}
	resp, err := tr.hc.Do(req)
	if err != nil {
		return 0, "connection", false
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		typ, code := errorOf(b)
		if typ == "" {
			return resp.StatusCode, fmt.Sprintf("http_%d", resp.StatusCode), false
		}
		return resp.StatusCode, typ + "/" + code, shedReasons[code]
	}
	if !stream {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return resp.StatusCode, Truncated, false
		}
		var ok struct {
			Choices []json.RawMessage `json:"choices"`
		}
		if json.Unmarshal(b, &ok) != nil || len(ok.Choices) == 0 {
			return resp.StatusCode, "malformed", false
		}
		return resp.StatusCode, "", false
	}
	return resp.StatusCode, readStream(resp.Body), false
}

// readStream reads an SSE stream to its end: "" when it ended with
// [DONE], the error event's "stream:type/code" when it carried one, else
// Truncated.
func readStream(r io.Reader) string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		if string(data) == "[DONE]" {
			return ""
		}
		if bytes.Contains(data, []byte(`"error"`)) {
			if typ, code := errorOf(data); typ != "" {
				return "stream:" + typ + "/" + code
			}
		}
	}
	return Truncated
}

// errorOf returns the type and code of an OpenAI error body; "" when b
// is not one.
func errorOf(b []byte) (typ, code string) {
	var e struct {
		Error *struct {
			Type string `json:"type"`
			Code any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil {
		return "", ""
	}
	typ = e.Error.Type
	if typ == "" {
		typ = "error"
	}
	if e.Error.Code != nil {
		code = fmt.Sprint(e.Error.Code)
	}
	return typ, code
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
