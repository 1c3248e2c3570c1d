// Command batch measures what a Batch API batch costs interactive traffic
// sharing its model, over HTTP with real processes (BENCHMARKS.md,
// "Batches on spare capacity"). It starts `bulwark sim` serving a chat
// model of capacity C: -slots concurrent calls of -service each (-queue
// more may wait inside it, then 429), C = slots ÷ service calls a second;
// and, for each run, a fresh `bulwark serve` in front of it (its own data
// directory, so no run inherits another's learned limits; the target's
// limit starts at slots ÷ 0.8, so that the part of it outside the
// critical reserve is the model's slots, as an operator who knows the
// deployment would set it, rather than 16 learned up to it). Each repeat
// makes two runs back to back:
//
//	A. interactive chat requests arrive open loop at -load × C for
//	   -duration (after -warmup of the same, not measured, for the
//	   learned limit to settle); nothing else runs;
//	B. the same, with a batch of -lines small chat lines submitted as the
//	   load starts; after the load the batch runs alone until it is done.
//
// It reports, per run and over all repeats, the interactive p50/p99 and
// errors, B's p99 over A's, and for B the lines the batch finished during
// the load (their rate against the capacity the load leaves, (1 − load) ×
// C) and when the whole batch completed.
//
//	go run ./bench/batch                        # C = 64 slots of 400 ms = 160 calls/s
//	go run ./bench/batch -repeats 3 -duration 30s
//	go run ./bench/batch -slots 16 -service 50ms # C = 320 calls/s, shorter calls
//	go run ./bench/batch -bin ./bulwark -h      # a prebuilt binary; flags
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/bench/benchproc"
)

const adminKey = "bench-admin-key-0123456789abcdef"

// verbose prints the interactive p99 of each 5 s of the load on stderr.
var verbose bool

type options struct {
	bin          string
	slots, queue int
	service      time.Duration
	load         float64
	duration     time.Duration
	warmup       time.Duration
	lines        int
	workers      int
	repeats      int
	keep         bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "bulwark binary (default: go build)")
	flag.IntVar(&o.slots, "slots", 64, "concurrent calls the chat model serves (C = slots ÷ service)")
	flag.IntVar(&o.queue, "queue", 64, "calls that may wait inside the model before it answers 429")
	flag.DurationVar(&o.service, "service", 400*time.Millisecond, "time of one chat call")
	flag.Float64Var(&o.load, "load", 0.8, "interactive calls a second, as a share of C")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long the interactive load lasts")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "interactive load before the measured one (and the batch), for the limit to settle")
	flag.IntVar(&o.lines, "lines", 10000, "lines of the batch")
	flag.IntVar(&o.workers, "workers", 64, "knowledge.batch_workers: lines a process runs at once at most")
	flag.IntVar(&o.repeats, "repeats", 2, "pairs of runs (A then B)")
	flag.BoolVar(&verbose, "v", false, "print each run's interactive p99 by 5 s window")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (logs) after the run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "batch:", err)
		os.Exit(1)
	}
}

// run is what one run measured.
type run struct {
	lat    []time.Duration // answered interactive requests
	errors int
	// A batch run's lines done when the load ended, and when it completed
	// (from its submission); failed lines.
	during   int
	complete time.Duration
	failed   int
}

func bench(ctx context.Context, o options) error {
	if _, err := benchproc.RaiseFileLimit(65536); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bulwark-batch-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "working directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin, err := benchproc.Build(ctx, o.bin, dir)
	if err != nil {
		return err
	}
	simPort, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	simYAML := fmt.Sprintf(`disable_builtin_sim: true
providers:
  up:
    type: sim
    models:
      chat: {ttft: {p50: %s}, output_tokens: {min: 8, max: 8}, max_concurrency: %d, queue: %d}
`, o.service, o.slots, o.queue)
	if err := os.WriteFile(filepath.Join(dir, "sim.yaml"), []byte(simYAML), 0o600); err != nil {
		return err
	}
	simProc, err := benchproc.Start("sim", bin, filepath.Join(dir, "sim.log"), nil,
		"sim", "--config", filepath.Join(dir, "sim.yaml"), "--listen", fmt.Sprintf("127.0.0.1:%d", simPort))
	if err != nil {
		return err
	}
	defer simProc.Stop(2 * time.Second)
	if err := benchproc.WaitReady(ctx, simProc, simURL+"/v1/models"); err != nil {
		return err
	}
	capacity := float64(o.slots) / o.service.Seconds()
	rate := o.load * capacity
	input := batchInput(o.lines)
	fmt.Fprintf(os.Stderr, "C = %d slots of %v = %.0f calls/s; interactive %.0f/s for %v; batch of %d lines\n",
		o.slots, o.service, capacity, rate, o.duration, o.lines)

	var as, bs []run
	for i := range o.repeats {
		for _, withBatch := range []bool{false, true} {
			name := fmt.Sprintf("%s%d", map[bool]string{false: "A", true: "B"}[withBatch], i+1)
			r, err := oneRun(ctx, o, bin, dir, name, simURL, rate, input, withBatch)
			if err != nil {
				return fmt.Errorf("run %s: %w", name, err)
			}
			if withBatch {
				bs = append(bs, r)
				fmt.Fprintf(os.Stderr, "%s: p50 %s p99 %s errors %d; batch: %d lines during the load (%.0f/s), completed in %v, %d failed\n",
					name, pct(r.lat, 50), pct(r.lat, 99), r.errors, r.during, float64(r.during)/o.duration.Seconds(), r.complete.Round(100*time.Millisecond), r.failed)
			} else {
				as = append(as, r)
				fmt.Fprintf(os.Stderr, "%s: p50 %s p99 %s errors %d\n", name, pct(r.lat, 50), pct(r.lat, 99), r.errors)
			}
		}
	}

	fmt.Println("| run | interactive/s | requests | p50 | p99 | p99 ÷ A's | errors | batch lines during load | batch lines/s during load (÷ (1−load)·C) | batch completed |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	spare := (1 - o.load) * capacity
	for i := range as {
		a, b := as[i], bs[i]
		fmt.Printf("| A%d | %.0f | %d | %s | %s | | %d | | | |\n", i+1, rate, len(a.lat)+a.errors, pct(a.lat, 50), pct(a.lat, 99), a.errors)
		bps := float64(b.during) / o.duration.Seconds()
		fmt.Printf("| B%d | %.0f | %d | %s | %s | %.3f | %d | %d | %.0f (%.2f) | %v, %d failed |\n", i+1, rate, len(b.lat)+b.errors, pct(b.lat, 50), pct(b.lat, 99),
			ratio(b.lat, a.lat), b.errors, b.during, bps, bps/spare, b.complete.Round(100*time.Millisecond), b.failed)
	}
	var allA, allB []time.Duration
	var errA, errB int
	for i := range as {
		allA, allB = append(allA, as[i].lat...), append(allB, bs[i].lat...)
		errA, errB = errA+as[i].errors, errB+bs[i].errors
	}
	slices.Sort(allA)
	slices.Sort(allB)
	fmt.Printf("| all A | %.0f | %d | %s | %s | | %d | | | |\n", rate, len(allA)+errA, pct(allA, 50), pct(allA, 99), errA)
	fmt.Printf("| all B | %.0f | %d | %s | %s | **%.3f** | %d | | | |\n", rate, len(allB)+errB, pct(allB, 50), pct(allB, 99), ratio(allB, allA), errB)
	return nil
}

// oneRun starts a fresh bulwark serve in front of the simulator, sends the
// interactive load (and, withBatch, submits the batch as it starts), and
// stops it.
func oneRun(ctx context.Context, o options, bin, dir, name, simURL string, rate float64, input []byte, withBatch bool) (run, error) {
	port, err := benchproc.FreePort()
	if err != nil {
		return run{}, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	serveYAML := fmt.Sprintf(`log: {level: warn}
disable_builtin_sim: true
providers:
  gpu: {type: openai, base_url: %s/v1}
models:
  - name: chat
    targets: [{provider: gpu, model: chat}]
    capacity: {initial_limit: %d}
knowledge: {batch_workers: %d}
`, simURL, (o.slots*5+3)/4, o.workers)
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte(serveYAML), 0o600); err != nil {
		return run{}, err
	}
	proc, err := benchproc.Start("serve", bin, filepath.Join(dir, name+".log"), []string{"BULWARK_ADMIN_KEY=" + adminKey},
		"serve", "--config", cfg, "--data-dir", filepath.Join(dir, name), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return run{}, err
	}
	defer proc.Stop(5 * time.Second)
	if err := benchproc.WaitReady(ctx, proc, url+"/readyz"); err != nil {
		return run{}, err
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	c := &client{url: url, hc: hc}

	var r run
	var id, file string
	if withBatch {
		if file, err = c.upload(ctx, input); err != nil {
			return r, err
		}
	}
	c.load(ctx, rate, o.warmup)
	if withBatch {
		var b batchWire
		if err := c.json(ctx, "POST", "/v1/batches", map[string]string{"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}, &b); err != nil {
			return r, err
		}
		id = b.ID
	}
	start := time.Now()
	r.lat, r.errors = c.load(ctx, rate, o.duration)
	if !withBatch {
		return r, nil
	}
	var b batchWire
	if err := c.json(ctx, "GET", "/v1/batches/"+id, nil, &b); err != nil {
		return r, err
	}
	r.during = b.RequestCounts.Completed + b.RequestCounts.Failed
	for b.Status != "completed" {
		switch b.Status {
		case "failed", "expired", "cancelled":
			return r, fmt.Errorf("batch %s ended %s", id, b.Status)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := c.json(ctx, "GET", "/v1/batches/"+id, nil, &b); err != nil {
			return r, err
		}
	}
	r.complete, r.failed = time.Since(start), b.RequestCounts.Failed
	return r, nil
}

type batchWire struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	RequestCounts struct {
		Total, Completed, Failed int
	} `json:"request_counts"`
}

// batchInput is a batch of n small chat lines.
func batchInput(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"custom_id":"line-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"classify item %d"}]}}`+"\n", i, i)
	}
	return b.Bytes()
}

type client struct {
	url string
	hc  *http.Client
}

func (c *client) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func (c *client) json(ctx context.Context, method, path string, v, out any) error {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	return c.do(ctx, method, path, "application/json", body, out)
}

// upload uploads a batch input file and returns its id.
func (c *client) upload(ctx context.Context, content []byte) (string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("purpose", "batch")
	fw, err := w.CreateFormFile("file", "input.jsonl")
	if err != nil {
		return "", err
	}
	_, _ = fw.Write(content)
	_ = w.Close()
	var f struct{ ID string }
	err = c.do(ctx, "POST", "/v1/files", w.FormDataContentType(), &b, &f)
	return f.ID, err
}

// load sends interactive chat requests open loop, rate a second, for d,
// and returns the latencies of the answered ones (from their scheduled
// send time, so a stalled sender counts) and how many failed.
func (c *client) load(ctx context.Context, rate float64, d time.Duration) ([]time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	windows := map[int][]time.Duration{} // by 5 s window of sending
	failed := 0
	var wg sync.WaitGroup
	gap := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * gap)
		if at.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Go(func() {
			body := fmt.Sprintf(`{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"interactive question %d"}]}`, i)
			err := c.do(ctx, "POST", "/v1/chat/completions", "application/json", strings.NewReader(body), nil)
			took := time.Since(at)
			mu.Lock()
			if err != nil {
				failed++
				if failed <= 3 {
					fmt.Fprintln(os.Stderr, "  interactive request failed:", firstLine(err.Error(), 200))
				}
			} else {
				lat = append(lat, took)
				k := int(at.Sub(start) / (5 * time.Second))
				windows[k] = append(windows[k], took)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if verbose && len(windows) > 1 {
		var b strings.Builder
		for k := range len(windows) {
			w := windows[k]
			slices.Sort(w)
			fmt.Fprintf(&b, " %ds: %s", 5*k, pct(w, 99))
		}
		fmt.Fprintln(os.Stderr, "  p99 by 5 s window of sending:"+b.String())
	}
	return lat, failed
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n]
	}
	return s
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	return at(d, p).Round(100 * time.Microsecond).String()
}

func at(d []time.Duration, p int) time.Duration {
	return d[min(len(d)-1, len(d)*p/100)]
}

func ratio(b, a []time.Duration) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	return float64(at(b, 99)) / float64(at(a, 99))
}
