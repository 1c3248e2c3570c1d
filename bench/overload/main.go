// Command overload measures Bulwark's admission control under overload over
// HTTP, with real processes (BENCHMARKS.md, "Admission control under
// overload"; bench/capacity is the same question in process). It starts
// `bulwark sim` as an OpenAI-compatible upstream of fixed capacity (one chat
// model, -slots concurrent calls of a constant -service time each, -queue
// more waiting inside the simulator, then 429), so C = slots ÷ service
// answers a second, and `bulwark serve` in front of it (its own temporary
// data directory; the alias chat routes to the simulator through an
// openai-type provider). Both configs are generated. It then
//
//  1. measures the unloaded p99 through Bulwark: -unloaded-n requests (by
//     default about 5 s of them, 50 to 300), a quarter of the slots at a
//     time (closed loop, so nothing queues), after a short warm-up;
//  2. offers -load × C open loop, Poisson arrivals (seeded, -seed), for
//     -warmup (unmeasured) and then -dur, non-streamed chat; latency is
//     measured from each request's scheduled send time;
//  3. reads the learned limit from GET /admin/v1/capacity.
//
// It prints a Markdown table row and a few lines of text: offered, answered
// 200, refused by status and error code (error.code, else error.type, of
// the OpenAI-format body), admitted (200) p50 and p99, the unloaded p99 and
// their ratio, goodput (200s within -slo) a second ÷ C, and the limit.
//
// With -timeout S every request carries X-Stainless-Timeout: S and the
// client gives up S after it sent the request (plus -grace, to see how late
// a late answer is): those are counted as client timeouts, and answers that
// end after the client's deadline as late. With -tenants 2, tenant steady
// offers a Poisson 0.5 C and tenant burst the rest, each with its own key.
//
// The requirement it checks (issue 13): at 5× C with no client deadline,
// admitted p99 ≤ 3× the unloaded p99 and goodput within 500 ms ≥ 0.9 C on
// every run; with X-Stainless-Timeout: 1 on a 400 ms upstream at 5× C, no
// admitted request ends after its client's deadline.
//
//	go run ./bench/overload                                   # 5× C, 50 ms upstream, no deadline
//	go run ./bench/overload -service 400ms -timeout 1         # 5× C, 400 ms upstream, 1 s SDK timeout
//	go run ./bench/overload -bin ./bulwark -seed 2 -dur 15s   # a prebuilt binary, another seed
//	go run ./bench/overload -h                                # flags
//
// Every child gets BULWARK_ADMIN_KEY; the children are stopped at the end,
// on error or interrupt, and die with the benchmark if it is killed
// (Pdeathsig). Keep runs short on a shared machine: generator, gateway and
// simulator share its cores.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bulwark-ai/bulwark/bench/benchproc"
)

const adminKey = "bench-admin-key-0123456789abcdef"

type options struct {
	bin                   string
	slots, queue          int
	service               time.Duration
	load                  float64
	dur, warmup           time.Duration
	seed                  uint64
	timeout               string // X-Stainless-Timeout, "" for none
	timeoutD              time.Duration
	grace                 time.Duration
	slo                   time.Duration
	unloadedN             int
	unloaded              time.Duration
	tenants               int
	tolerance             float64
	logLevel              string
	keep, verbose         bool
	clientCap, overallCap time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the bulwark binary (default: go build ./cmd/bulwark into the temporary directory)")
	flag.IntVar(&o.slots, "slots", 8, "the simulator's max_concurrency")
	flag.DurationVar(&o.service, "service", 50*time.Millisecond, "the simulator's service time per call (a fixed TTFT, no ITL, 8 output tokens)")
	flag.IntVar(&o.queue, "queue", 32, "the simulator's own queue beyond its slots (then 429)")
	flag.Float64Var(&o.load, "load", 5, "offered load, a multiple of C = slots ÷ service")
	flag.DurationVar(&o.dur, "dur", 15*time.Second, "measured time")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "unmeasured time at the same load before it")
	flag.Uint64Var(&o.seed, "seed", 1, "arrival seed")
	flag.StringVar(&o.timeout, "timeout", "", "seconds: send X-Stainless-Timeout with this value and give up after it (default: no client deadline)")
	flag.DurationVar(&o.grace, "grace", 0, "with -timeout, how much longer the client waits past its deadline (to see how late a late answer is)")
	flag.DurationVar(&o.slo, "slo", 500*time.Millisecond, "goodput counts 200s within this latency (from the scheduled send time)")
	flag.IntVar(&o.unloadedN, "unloaded-n", 0, "requests of the unloaded measurement (default: about 5 s of them, 50 to 300)")
	flag.DurationVar(&o.unloaded, "unloaded", 0, "use this unloaded p99 instead of measuring it")
	flag.IntVar(&o.tenants, "tenants", 1, "1: every request with the admin key; 2: tenant steady at 0.5 C and tenant burst with the rest, own keys")
	flag.Float64Var(&o.tolerance, "tolerance", 0, "models.capacity.latency_tolerance of the alias (0: Bulwark's default)")
	flag.StringVar(&o.logLevel, "log-level", "info", "serve's log level (info includes the access log, written to a file)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, data)")
	flag.BoolVar(&o.verbose, "v", false, "print the configs and the whole capacity snapshot")
	flag.DurationVar(&o.clientCap, "client-cap", 120*time.Second, "without -timeout, the longest a client waits (an SDK's default is 600 s)")
	flag.DurationVar(&o.overallCap, "deadline", 5*time.Minute, "stop everything after this long")
	flag.Parse()
	if o.timeout != "" {
		s, err := strconv.ParseFloat(o.timeout, 64)
		if err != nil || s <= 0 {
			fmt.Fprintf(os.Stderr, "overload: bad -timeout %q: a positive number of seconds\n", o.timeout)
			os.Exit(2)
		}
		o.timeoutD = time.Duration(s * float64(time.Second))
	}
	if o.slots <= 0 || o.service <= 0 || o.load <= 0 || o.dur <= 0 || (o.tenants != 1 && o.tenants != 2) {
		fmt.Fprintln(os.Stderr, "overload: -slots, -service, -load and -dur must be positive, -tenants 1 or 2")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.overallCap)
	err := bench(ctx, o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "overload:", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context, o options) error {
	limit, _ := benchproc.RaiseFileLimit(0)
	dir, err := os.MkdirTemp("", "bulwark-overload-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "temporary directory: %s\n", dir)
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
	servePort, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	serveURL := fmt.Sprintf("http://127.0.0.1:%d", servePort)

	// The simulator: a fixed TTFT of -service (P50 alone is a fixed delay),
	// no time between tokens, always 8 output tokens, so that a plain call
	// takes the service time and nothing else.
	simYAML := fmt.Sprintf(`disable_builtin_sim: true
providers:
  up:
    type: sim
    models:
      m:
        ttft: {p50: %s}
        output_tokens: {min: 8, max: 8}
        max_concurrency: %d
        queue: %d
`, o.service, o.slots, o.queue)
	capacity := ""
	if o.tolerance > 0 {
		capacity = fmt.Sprintf("\n    capacity: {latency_tolerance: %g}", o.tolerance)
	}
	serveYAML := fmt.Sprintf(`log: {level: %s, format: json}
server:
  shutdown_grace: 1s
disable_builtin_sim: true
providers:
  upstream:
    type: openai
    base_url: %s/v1
models:
  - name: chat
    targets: [{provider: upstream, model: m}]%s
`, o.logLevel, simURL, capacity)
	simCfg, serveCfg := filepath.Join(dir, "sim.yaml"), filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(simCfg, []byte(simYAML), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(serveCfg, []byte(serveYAML), 0o600); err != nil {
		return err
	}
	if o.verbose {
		fmt.Fprintf(os.Stderr, "--- sim.yaml\n%s--- serve.yaml\n%s", simYAML, serveYAML)
	}
	env := []string{"BULWARK_ADMIN_KEY=" + adminKey}
	sim, err := benchproc.Start("bulwark sim", bin, filepath.Join(dir, "sim.log"), env,
		"sim", "--config", simCfg, "--listen", fmt.Sprintf("127.0.0.1:%d", simPort), "--seed", strconv.FormatUint(o.seed, 10))
	if err != nil {
		return err
	}
	defer sim.Stop(3 * time.Second)
	srv, err := benchproc.Start("bulwark serve", bin, filepath.Join(dir, "serve.log"), env,
		"serve", "--config", serveCfg, "--listen", fmt.Sprintf("127.0.0.1:%d", servePort), "--data-dir", filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	defer srv.Stop(3 * time.Second)
	// The simulator has no /readyz: its model list answering is its
	// readiness.
	if err := benchproc.WaitReady(ctx, sim, simURL+"/v1/models"); err != nil {
		return err
	}
	if err := benchproc.WaitReady(ctx, srv, serveURL+"/readyz"); err != nil {
		return err
	}

	tenants := []*tenantLoad{{name: "admin", key: adminKey}}
	c := float64(o.slots) / o.service.Seconds()
	rate := o.load * c
	if o.tenants == 2 {
		steady, err := tenantKey(ctx, serveURL, "steady")
		if err != nil {
			return err
		}
		burst, err := tenantKey(ctx, serveURL, "burst")
		if err != nil {
			return err
		}
		steadyRate := min(0.5*c, rate)
		tenants = []*tenantLoad{{name: "steady", key: steady, rate: steadyRate}, {name: "burst", key: burst, rate: rate - steadyRate}}
	} else {
		tenants[0].rate = rate
	}

	cl := &http.Client{Transport: &http.Transport{MaxIdleConns: 20000, MaxIdleConnsPerHost: 20000, DisableCompression: true}}
	e := &endpoint{url: serveURL + "/v1/chat/completions", client: cl, o: o}

	unloaded := o.unloaded
	if unloaded <= 0 {
		if unloaded, err = measureUnloaded(ctx, e, tenants[0].key, o); err != nil {
			return err
		}
	}
	r := offer(ctx, e, tenants, o)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %w", ctx.Err())
	}
	capState, capRaw, capErr := capacityState(ctx, serveURL)
	if srv.Exited() || sim.Exited() {
		return fmt.Errorf("a child exited during the run; see the logs (-keep)")
	}
	report(o, c, rate, unloaded, r, tenants, capState, capErr, limit)
	if o.verbose && capRaw != nil {
		var b bytes.Buffer
		_ = json.Indent(&b, capRaw, "", "  ")
		fmt.Fprintf(os.Stderr, "GET /admin/v1/capacity after the run:\n%s\n", b.String())
	}
	return nil
}

// tenantLoad is one tenant's key and offered rate, and what its measured
// requests got.
type tenantLoad struct {
	name, key string
	rate      float64
	sent, ok  int // measured requests, and 200s within the SLO
}

// tenantKey creates tenant id and a key of it for the chat alias.
func tenantKey(ctx context.Context, base, id string) (string, error) {
	post := func(path, body string, out any) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
		}
		return json.Unmarshal(b, out)
	}
	var t struct{}
	if err := post("/admin/v1/tenants", `{"id":"`+id+`","name":"overload benchmark `+id+`"}`, &t); err != nil {
		return "", err
	}
	var k struct {
		Secret string `json:"secret"`
	}
	if err := post("/admin/v1/keys", `{"tenant_id":"`+id+`","name":"overload","models":["chat"]}`, &k); err != nil {
		return "", err
	}
	if k.Secret == "" {
		return "", errors.New("the admin API returned no key secret")
	}
	return k.Secret, nil
}

// endpoint sends the benchmark's chat request to Bulwark.
type endpoint struct {
	url    string
	client *http.Client
	o      options
}

var body = []byte(`{"model":"chat","messages":[{"role":"user","content":"Explain how a circuit breaker protects a service."}]}`)

// outcome is what one request got.
type outcome struct {
	status   int    // 0 when no answer
	code     string // the error's code or type, or the transport error
	timedOut bool   // the client gave up at its deadline (+ grace)
	late     bool   // an answer that ended after the client's deadline
	lateBy   time.Duration
	lat      time.Duration
}

// do sends one request scheduled at at; latency is from at.
func (e *endpoint) do(ctx context.Context, key string, at time.Time) outcome {
	sent := time.Now()
	wait := e.o.clientCap
	if e.o.timeoutD > 0 {
		wait = e.o.timeoutD + e.o.grace
	}
	c, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(c, http.MethodPost, e.url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if e.o.timeout != "" {
		req.Header.Set("X-Stainless-Timeout", e.o.timeout)
	}
	var out outcome
	resp, err := e.client.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			out.status = resp.StatusCode
			if resp.StatusCode != http.StatusOK {
				out.code = errorCode(b)
			}
		}
	}
	end := time.Now()
	out.lat = end.Sub(at)
	if err != nil {
		if c.Err() != nil && ctx.Err() == nil {
			out.timedOut = true
			out.code = "client timed out"
		} else {
			s := err.Error()
			out.code = "error: " + s[:min(60, len(s))]
		}
		return out
	}
	if e.o.timeoutD > 0 && end.Sub(sent) > e.o.timeoutD {
		out.late, out.lateBy = true, end.Sub(sent)-e.o.timeoutD
	}
	return out
}

// errorCode is error.code of an OpenAI-format error body, else error.type,
// else "-".
func errorCode(b []byte) string {
	var e struct {
		Error struct {
			Code any    `json:"code"`
			Type string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	if e.Error.Code != nil && fmt.Sprint(e.Error.Code) != "" {
		return fmt.Sprint(e.Error.Code)
	}
	if e.Error.Type != "" {
		return e.Error.Type
	}
	return "-"
}

// measureUnloaded returns the p99 of o.unloadedN requests sent a quarter
// of the slots at a time (at most a quarter of capacity: nothing queues),
// after two warm-up requests per worker.
func measureUnloaded(ctx context.Context, e *endpoint, key string, o options) (time.Duration, error) {
	workers := max(1, o.slots/4)
	if o.unloadedN <= 0 {
		o.unloadedN = min(300, max(50, int(5*time.Second/o.service)*workers))
	}
	var warm sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		warm.Go(func() {
			for range 2 {
				if r := e.do(ctx, key, time.Now()); r.status != http.StatusOK {
					errs <- fmt.Errorf("warm-up request: %d %s", r.status, r.code)
					return
				}
			}
		})
	}
	warm.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		bad  []string
		next int
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				if next >= o.unloadedN {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				r := e.do(ctx, key, time.Now())
				mu.Lock()
				if r.status == http.StatusOK {
					lat = append(lat, r.lat)
				} else {
					bad = append(bad, fmt.Sprintf("%d %s", r.status, r.code))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		return 0, fmt.Errorf("%d of %d unloaded requests failed, e.g. %s", len(bad), o.unloadedN, bad[0])
	}
	if len(lat) == 0 {
		return 0, errors.New("no unloaded request answered")
	}
	slices.Sort(lat)
	fmt.Fprintf(os.Stderr, "unloaded: %d requests, %d at a time: p50 %s, p99 %s\n", len(lat), workers, ms(quantile(lat, .5)), ms(quantile(lat, .99)))
	return quantile(lat, .99), nil
}

func quantile(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// result is the tally of the measured requests.
type result struct {
	offered, ok, good int
	late, lateOK      int // answers that ended after the client's deadline, and the 200s of them
	maxLateBy         time.Duration
	timedOut          int
	refused           map[string]int // "status code" → n, every non-200
	lat               []time.Duration
	lag               time.Duration // how far the generator fell behind its schedule, at most
	warmupSent        int
}

// offer runs the open-loop load: each tenant's arrivals are Poisson at its
// rate, from its own seeded generator; requests scheduled in the warm-up
// are sent but not counted.
func offer(ctx context.Context, e *endpoint, tenants []*tenantLoad, o options) *result {
	res := &result{refused: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	measureFrom, end := start.Add(o.warmup), start.Add(o.warmup+o.dur)
	var gens sync.WaitGroup
	for i, t := range tenants {
		if t.rate <= 0 {
			continue
		}
		rnd := rand.New(rand.NewPCG(o.seed, uint64(i)+1))
		gens.Go(func() {
			at := start
			for ctx.Err() == nil {
				at = at.Add(time.Duration(rnd.ExpFloat64() / t.rate * float64(time.Second)))
				if !at.Before(end) {
					return
				}
				time.Sleep(time.Until(at))
				lag := time.Since(at)
				measured := !at.Before(measureFrom)
				wg.Go(func() {
					r := e.do(ctx, t.key, at)
					mu.Lock()
					defer mu.Unlock()
					res.lag = max(res.lag, lag)
					if !measured {
						res.warmupSent++
						return
					}
					res.offered++
					t.sent++
					switch {
					case r.status == http.StatusOK:
						res.ok++
						res.lat = append(res.lat, r.lat)
						if r.lat <= o.slo {
							res.good++
							t.ok++
						}
					default:
						k := r.code
						if r.status != 0 {
							k = fmt.Sprintf("%d %s", r.status, r.code)
						}
						res.refused[k]++
					}
					if r.late {
						res.late++
						res.maxLateBy = max(res.maxLateBy, r.lateBy)
						if r.status == http.StatusOK {
							res.lateOK++
						}
					}
					if r.timedOut {
						res.timedOut++
					}
				})
			}
		})
	}
	gens.Wait()
	wg.Wait()
	slices.Sort(res.lat)
	return res
}

// capacityState reads the limiter state of the chat alias's target.
type limiterState struct {
	Target  string                      `json:"target"`
	Limit   float64                     `json:"limit"`
	Service string                      `json:"service_time"`
	Shed    map[string]map[string]int64 `json:"shed"`
}

func capacityState(ctx context.Context, base string) (*limiterState, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/v1/capacity", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, b, fmt.Errorf("GET /admin/v1/capacity: %s", resp.Status)
	}
	var s struct {
		Targets []limiterState `json:"targets"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, b, err
	}
	for _, t := range s.Targets {
		if strings.HasSuffix(t.Target, "/m") {
			return &t, b, nil
		}
	}
	return nil, b, errors.New("no limiter for the upstream in /admin/v1/capacity")
}

func ms(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func report(o options, c, rate float64, unloaded time.Duration, r *result, tenants []*tenantLoad, st *limiterState, stErr error, fdLimit uint64) {
	keys := make([]string, 0, len(r.refused))
	for k := range r.refused {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return r.refused[b] - r.refused[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, r.refused[k]))
	}
	refused := "none"
	if len(parts) > 0 {
		refused = strings.Join(parts, ", ")
	}
	p50, p99 := quantile(r.lat, .5), quantile(r.lat, .99)
	ratio := 0.0
	if unloaded > 0 {
		ratio = float64(p99) / float64(unloaded)
	}
	goodput := float64(r.good) / o.dur.Seconds() / c
	limit := "?"
	if st != nil {
		limit = fmt.Sprintf("%.2f (service %s)", st.Limit, st.Service)
	} else if stErr != nil {
		limit = "? (" + stErr.Error() + ")"
	}
	deadline := "none"
	lateCol := "–"
	if o.timeoutD > 0 {
		deadline = "X-Stainless-Timeout: " + o.timeout
		lateCol = fmt.Sprintf("%d + %d", r.late, r.timedOut)
	}

	fmt.Printf("## Overload over HTTP, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("Upstream: `bulwark sim`, %d slots × %s per call (+%d queued, then 429): C = %.0f answers/s. "+
		"Offered %.1f× C = %.0f req/s open loop (Poisson, seed %d, %d tenant(s)) for %s after %s warm-up, non-streamed; "+
		"client deadline %s; SLO %s. %d CPUs, %s, file limit %d.\n\n",
		o.slots, o.service, o.queue, c, o.load, rate, o.seed, len(tenants), o.dur, o.warmup, deadline, o.slo,
		runtime.NumCPU(), runtime.Version(), fdLimit)
	fmt.Printf("command: `%s`\n\n", strings.Join(os.Args, " "))
	fmt.Println("| load | service | deadline | seed | offered | 200 | refused (status code: n) | admitted p50 | admitted p99 | unloaded p99 | p99 ÷ unloaded | goodput / C | late + client timeouts | learned limit |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %.1f× C | %s | %s | %d | %d | %d | %s | %s | %s | %s | %.2f | %.2f | %s | %s |\n\n",
		o.load, o.service, deadline, o.seed, r.offered, r.ok, refused, ms(p50), ms(p99), ms(unloaded), ratio, goodput, lateCol, limit)

	fmt.Printf("- Offered %d requests in the measured %s (%.0f/s; %d more in the warm-up); %d answered 200 (%.1f%%), %d within the %s SLO.\n",
		r.offered, o.dur, float64(r.offered)/o.dur.Seconds(), r.warmupSent, r.ok, 100*float64(r.ok)/float64(max(r.offered, 1)), r.good, o.slo)
	fmt.Printf("- Admitted (200) latency from the scheduled send time: p50 %s, p99 %s, max %s; unloaded p99 %s (ratio %.2f).\n",
		ms(p50), ms(p99), ms(quantile(r.lat, 1)), ms(unloaded), ratio)
	fmt.Printf("- Goodput within %s: %.1f/s = %.2f C.\n", o.slo, float64(r.good)/o.dur.Seconds(), goodput)
	if len(tenants) > 1 {
		for _, t := range tenants {
			fmt.Printf("- Tenant %s: offered %.0f/s (%.2f C), %d sent, %d (%.1f%%) answered 200 within the SLO.\n",
				t.name, t.rate, t.rate/c, t.sent, t.ok, 100*float64(t.ok)/float64(max(t.sent, 1)))
		}
	}
	if o.timeoutD > 0 {
		fmt.Printf("- Client deadline %s after sending (client waits %s): %d answers ended after it (%d of them 200s; at most %s after), %d requests timed out at the client.\n",
			o.timeoutD, o.timeoutD+o.grace, r.late, r.lateOK, ms(r.maxLateBy), r.timedOut)
	}
	if st != nil {
		b, _ := json.Marshal(st.Shed)
		fmt.Printf("- After the run, %s: learned limit %.2f, service time %s; sheds by class and reason since start %s.\n", st.Target, st.Limit, st.Service, b)
	}
	if r.lag > 20*time.Millisecond {
		fmt.Printf("- The generator fell behind its schedule by up to %s (a busy machine); latency counts it.\n", ms(r.lag))
	}
	// The requirement, for the configuration it is stated for.
	switch {
	case o.timeoutD == 0:
		fmt.Printf("- Requirement (no deadline): p99 ≤ 3× unloaded: %s (%.2f); goodput within %s ≥ 0.9 C: %s (%.2f).\n",
			yes(ratio <= 3), ratio, o.slo, yes(goodput >= 0.9), goodput)
	default:
		fmt.Printf("- Requirement (deadline): no admitted request ends after its client's deadline: %s (%d late, %d client timeouts).\n",
			yes(r.late == 0 && r.timedOut == 0), r.late, r.timedOut)
	}
}

func yes(b bool) string {
	if b {
		return "**met**"
	}
	return "**not met**"
}
