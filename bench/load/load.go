package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is where a run sends its requests: straight to the simulator or
// through Bulwark. The two differ only in URL, key and model name.
type endpoint struct {
	name   string // "direct" or "bulwark"
	url    string // …/v1/chat/completions
	key    string
	model  string // the chat model as this endpoint names it
	long   string // the long-stream model as this endpoint names it
	client *http.Client
	pid    int // the process whose CPU time the run charges
}

const prompt = `[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Explain in a few sentences how a circuit breaker protects a service from a failing dependency."}]`

func (e *endpoint) body(model string, stream bool) []byte {
	s := ""
	if stream {
		s = `"stream":true,`
	}
	return []byte(`{"model":"` + model + `",` + s + `"messages":` + prompt + `}`)
}

// sample is what one request measured. Latencies run from the time the
// request was scheduled, not from when it was sent, so that a generator or
// a server falling behind shows up as latency (no coordinated omission).
type sample struct {
	total  time.Duration // to the last byte
	first  time.Duration // to the first SSE event (streams)
	lag    time.Duration // how late the generator sent it
	err    string        // "" for success
	own    float64       // Server-Timing bulwark;dur, milliseconds
	hasOwn bool
	stream bool
}

// run is the outcome of one constant-rate run.
type run struct {
	endpoint string
	stream   bool
	rate     int
	sent     int
	samples  []sample
	errors   map[string]int
	cpu      time.Duration // CPU time of the endpoint's process over the run
	elapsed  time.Duration
}

// maxInFlight bounds a run's concurrent requests: beyond it a scheduled
// request is not sent and counts as an error ("dropped"), so that an
// overloaded server cannot make the generator exhaust the machine.
const maxInFlight = 4000

// requestTimeout bounds one request of a constant-rate run.
const requestTimeout = 5 * time.Second

// constantRate sends rate requests per second to e for d, open loop: the
// i-th request is scheduled at start + i/rate whatever happened to the
// earlier ones.
func constantRate(ctx context.Context, e *endpoint, stream bool, rate int, d time.Duration) run {
	n := int(int64(rate) * int64(d) / int64(time.Second))
	r := run{endpoint: e.name, stream: stream, rate: rate, sent: n, samples: make([]sample, n), errors: map[string]int{}}
	body := e.body(e.model, stream)
	interval := time.Second / time.Duration(rate)
	var inFlight atomic.Int64
	var wg sync.WaitGroup
	cpu0, _ := cpuTime(e.pid)
	start := time.Now().Add(5 * time.Millisecond)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			r.samples = r.samples[:i]
			break
		}
		if inFlight.Load() >= maxInFlight {
			r.samples[i] = sample{err: "dropped (too many in flight)"}
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			r.samples[i] = e.do(ctx, body, stream, at)
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	cpu1, _ := cpuTime(e.pid)
	r.cpu = cpu1 - cpu0
	for _, s := range r.samples {
		if s.err != "" {
			r.errors[s.err]++
		}
	}
	return r
}

// do sends one request scheduled at at and measures it.
func (e *endpoint) do(ctx context.Context, body []byte, stream bool, at time.Time) sample {
	s := sample{lag: time.Since(at), stream: stream}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		s.err = err.Error()
		return s
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		s.err = errKind(err)
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		s.err = "status " + strconv.Itoa(resp.StatusCode)
		return s
	}
	if st := resp.Header.Get("Server-Timing"); st != "" {
		s.own, s.hasOwn = ownTime(st)
	}
	if !stream {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			s.err = errKind(err)
			return s
		}
		s.total = time.Since(at)
		return s
	}
	br := bufio.NewReader(resp.Body)
	done := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && bytes.HasPrefix(line, []byte("data: ")) {
			if s.first == 0 {
				s.first = time.Since(at)
			}
			if bytes.HasPrefix(line, []byte("data: [DONE]")) {
				done = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.err = errKind(err)
			return s
		}
	}
	s.total = time.Since(at)
	if !done {
		s.err = "stream ended without [DONE]"
	}
	return s
}

// ownTime parses the bulwark;dur=… entry of a Server-Timing header.
func ownTime(h string) (float64, bool) {
	for part := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if name != "bulwark" {
			continue
		}
		v, ok := strings.CutPrefix(strings.TrimSpace(params), "dur=")
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "too many open files", "EOF", "cannot assign requested address"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return msg
}

// dist is a sorted set of durations.
type dist []time.Duration

func (d dist) q(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p*float64(len(d))+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

// stats summarises a run.
type stats struct {
	ok, errs          int
	total, first, lag dist
	own               []float64
	missingTiming     int
	cpuPer1000        time.Duration
	achieved          float64 // requests per second actually sent
}

func summarize(r run) stats {
	var s stats
	for _, x := range r.samples {
		s.lag = append(s.lag, x.lag)
		if x.err != "" {
			s.errs++
			continue
		}
		s.ok++
		s.total = append(s.total, x.total)
		if x.stream {
			s.first = append(s.first, x.first)
		}
		if x.hasOwn {
			s.own = append(s.own, x.own)
		} else {
			s.missingTiming++
		}
	}
	slices.Sort(s.total)
	slices.Sort(s.first)
	slices.Sort(s.lag)
	slices.Sort(s.own)
	if n := len(r.samples); n > 0 {
		s.cpuPer1000 = r.cpu * 1000 / time.Duration(n)
		s.achieved = float64(n) / r.elapsed.Seconds()
	}
	return s
}

func ownQ(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(p*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

func errSummary(r run) string {
	if len(r.errors) == 0 {
		return ""
	}
	var parts []string
	for k, n := range r.errors {
		parts = append(parts, fmt.Sprintf("%d× %s", n, k))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// newClient returns an HTTP client with room for many connections to one
// host, so that the generator itself never queues requests.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 8192,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}
