// Command load is Bulwark's load benchmark. It starts `bulwark sim` as an
// OpenAI-compatible upstream and `bulwark serve` in front of it, both on
// loopback ports, and drives them with an open-loop constant-rate generator:
// request i is scheduled at start + i/rate whatever happened to the earlier
// ones, and its latency is measured from that scheduled time, so that a
// server falling behind shows as latency instead of slowing the load down.
//
// Every measurement through Bulwark is paired with the same load sent
// straight to the simulator in the same run (alternating which goes first),
// and what is reported is the difference: the latency Bulwark adds.
//
// Phases, in order (-phases selects them):
//
//	sim     the simulator alone at rising rates: its own capacity
//	fixed   added latency at fixed rates, plain and streamed (TTFT, total),
//	        Server-Timing on every response, CPU time per 1,000 requests
//	search  the highest rate with p99 added latency < 1 ms and no errors
//	memory  resident memory of the serve process with N open streams,
//	        clients speaking HTTP/1.1 and then cleartext HTTP/2 (h2c)
//
// It is bounded: every run has a fixed number of requests, every request a
// timeout, the whole benchmark a deadline (-timeout); it stops its children
// when it ends, and they die with it if it is killed (Pdeathsig).
//
// Usage (see BENCHMARKS.md; `make bench` builds bin/bulwark and runs this):
//
//	go run ./bench/load [-duration 3s] [-repeats 3] [-rates 500,1000,2000,5000] …
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-ai/bulwark/bench/benchproc"
)

const adminKey = "bk-bench-admin-0123456789abcdefghijklmnopqrstuvwxyz"

type options struct {
	bin, config, simConfig string
	rates, simRates        []int
	streams                []int
	duration, simDuration  time.Duration
	repeats, searchSteps   int
	searchStart, ramp      int
	phases                 map[string]bool
	timeout                time.Duration
	keep                   bool
}

func main() {
	var o options
	var rates, simRates, streams, phases string
	flag.StringVar(&o.bin, "bin", "bin/bulwark", "the bulwark binary")
	flag.StringVar(&o.config, "config", "bench/bulwark.yaml", "config of `bulwark serve`")
	flag.StringVar(&o.simConfig, "sim-config", "bench/sim.yaml", "config of `bulwark sim`")
	flag.StringVar(&rates, "rates", "500,1000,2000,5000", "fixed rates, requests per second")
	flag.StringVar(&simRates, "sim-rates", "1000,2000,5000,10000,20000", "rates of the simulator-alone phase")
	flag.StringVar(&streams, "streams", "1000,10000", "open-stream counts of the memory phase")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of one run")
	flag.DurationVar(&o.simDuration, "sim-duration", 2*time.Second, "length of one simulator-alone run")
	flag.IntVar(&o.repeats, "repeats", 3, "runs per fixed rate and endpoint; figures are their medians")
	flag.IntVar(&o.searchSteps, "search-steps", 6, "runs of the sustained-rate search")
	flag.IntVar(&o.searchStart, "search-start", 2000, "first rate the search tries")
	flag.IntVar(&o.ramp, "stream-ramp", 2000, "streams opened per second in the memory phase")
	flag.StringVar(&phases, "phases", "sim,fixed,search,memory", "phases to run")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "stop everything after this long")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, data)")
	flag.Parse()
	var err error
	if o.rates, err = ints(rates); err == nil {
		if o.simRates, err = ints(simRates); err == nil {
			o.streams, err = ints(streams)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(phases, ",") {
		o.phases[strings.TrimSpace(p)] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err = bench(ctx, o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func bench(ctx context.Context, o options) error {
	// 10,000 streams cost the serve process two descriptors each over
	// HTTP/1.1 (client and upstream connection), one each when the clients
	// speak cleartext HTTP/2; children inherit this limit.
	limit, err := benchproc.RaiseFileLimit(1 << 17)
	if err != nil {
		return fmt.Errorf("raise the file limit: %w", err)
	}
	dir, err := os.MkdirTemp("", "bulwark-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("temporary directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
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

	sim, err := benchproc.Start("bulwark sim", o.bin, filepath.Join(dir, "sim.log"), nil,
		"sim", "--config", o.simConfig, "--listen", fmt.Sprintf("127.0.0.1:%d", simPort))
	if err != nil {
		return err
	}
	defer sim.Stop(5 * time.Second)
	srv, err := benchproc.Start("bulwark serve", o.bin, filepath.Join(dir, "serve.log"),
		[]string{"BULWARK_ADMIN_KEY=" + adminKey, "BULWARK_BENCH_UPSTREAM=" + simURL + "/v1"},
		"serve", "--config", o.config, "--listen", fmt.Sprintf("127.0.0.1:%d", servePort), "--data-dir", filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	defer srv.Stop(5 * time.Second)
	if err := benchproc.WaitReady(ctx, sim, simURL+"/v1/models"); err != nil {
		return err
	}
	if err := benchproc.WaitReady(ctx, srv, serveURL+"/healthz"); err != nil {
		return err
	}
	key, err := tenantKey(ctx, serveURL)
	if err != nil {
		return err
	}

	direct := &endpoint{name: "direct", url: simURL + "/v1/chat/completions", key: "unused",
		model: "bench-chat", long: "bench-long", client: newClient(), pid: sim.Pid()}
	via := &endpoint{name: "bulwark", url: serveURL + "/v1/chat/completions", key: key,
		model: "chat", long: "long", client: newClient(), pid: srv.Pid()}

	fmt.Printf("# Bulwark load benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("machine: %d CPUs (%s), %s, %s; file limit %d\n", runtime.NumCPU(), cpuModel(), runtime.Version(), memTotal(), limit)
	fmt.Printf("command: %s\n\n", strings.Join(os.Args, " "))

	// Warm both paths up: connections, page faults, the first GC cycles.
	for _, e := range []*endpoint{direct, via} {
		constantRate(ctx, e, false, 500, time.Second)
		constantRate(ctx, e, true, 500, time.Second)
	}

	if o.phases["sim"] {
		simAlone(ctx, o, direct)
	}
	if o.phases["fixed"] {
		fixedRates(ctx, o, direct, via)
	}
	if o.phases["search"] {
		search(ctx, o, direct, via)
	}
	if o.phases["memory"] {
		memory(ctx, o, dir, simURL, limit)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %w", ctx.Err())
	}
	if fi, err := os.Stat(filepath.Join(dir, "serve.log")); err == nil {
		fmt.Printf("\nserve access log written during the benchmark: %d MiB\n", fi.Size()>>20)
	}
	return nil
}

// tenantKey creates a tenant and a key allowed the bench aliases only, so
// that every request goes through the per-key model check.
func tenantKey(ctx context.Context, base string) (string, error) {
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
	if err := post("/admin/v1/tenants", `{"id":"bench","name":"load benchmark"}`, &t); err != nil {
		return "", err
	}
	var k struct {
		Secret string `json:"secret"`
	}
	if err := post("/admin/v1/keys", `{"tenant_id":"bench","name":"load","models":["chat","long"]}`, &k); err != nil {
		return "", err
	}
	if k.Secret == "" {
		return "", fmt.Errorf("the admin API returned no key secret")
	}
	return k.Secret, nil
}

func simAlone(ctx context.Context, o options, direct *endpoint) {
	fmt.Printf("## The simulator alone (plain requests, %s per rate)\n\n", o.simDuration)
	fmt.Println("| rate/s | achieved/s | p50 | p90 | p99 | p99.9 | errors | sim CPU ms per 1k req | generator lag p99 |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---|---:|---:|")
	for _, rate := range o.simRates {
		r := constantRate(ctx, direct, false, rate, o.simDuration)
		s := summarize(r)
		fmt.Printf("| %d | %.0f | %s | %s | %s | %s | %s | %s | %s |\n", rate, s.achieved,
			ms(s.total.q(.5)), ms(s.total.q(.9)), ms(s.total.q(.99)), ms(s.total.q(.999)),
			orNone(errSummary(r)), msPlain(s.cpuPer1000), ms(s.lag.q(.99)))
		pause()
	}
	fmt.Println()
}

// pair is one run through Bulwark and one direct at the same rate.
type pair struct{ direct, via stats }

func runPair(ctx context.Context, e0, e1 *endpoint, stream bool, rate int, d time.Duration, flip bool) (pair, run, run) {
	a, b := e0, e1
	if flip {
		a, b = b, a
	}
	ra := constantRate(ctx, a, stream, rate, d)
	pause()
	rb := constantRate(ctx, b, stream, rate, d)
	pause()
	if flip {
		ra, rb = rb, ra
	}
	return pair{direct: summarize(ra), via: summarize(rb)}, ra, rb
}

var quantiles = []float64{.5, .9, .99, .999}

func fixedRates(ctx context.Context, o options, direct, via *endpoint) {
	fmt.Printf("## Added latency at fixed rates (%d runs of %s per endpoint; medians)\n\n", o.repeats, o.duration)
	fmt.Println("Added = Bulwark − direct at the same percentile, per run pair; the table shows the median over the pairs.")
	fmt.Println("Own = Bulwark's Server-Timing `bulwark;dur` (its self-reported cost).")
	fmt.Println()
	fmt.Println("| kind | rate/s | measure | direct p50 / p99 | Bulwark p50 / p99 | added p50 | p90 | p99 | p99.9 | p99 ratio | own p50 / p99 | errors (direct / Bulwark) | missing Server-Timing | CPU ms per 1k req (sim / Bulwark) |")
	fmt.Println("|---|---:|---|---|---|---:|---:|---:|---:|---:|---|---|---:|---|")
	for _, stream := range []bool{false, true} {
		for _, rate := range o.rates {
			var pairs []pair
			var errD, errV []string
			for i := range o.repeats {
				p, rd, rv := runPair(ctx, direct, via, stream, rate, o.duration, i%2 == 1)
				pairs = append(pairs, p)
				errD = append(errD, errSummary(rd))
				errV = append(errV, errSummary(rv))
			}
			kind := "plain"
			if stream {
				kind = "stream"
			}
			measures := []struct {
				name string
				get  func(stats) dist
			}{{"total", func(s stats) dist { return s.total }}}
			if stream {
				measures = []struct {
					name string
					get  func(stats) dist
				}{{"TTFT", func(s stats) dist { return s.first }}, {"total", func(s stats) dist { return s.total }}}
			}
			for _, m := range measures {
				added := make([]string, len(quantiles))
				for qi, q := range quantiles {
					var v []time.Duration
					for _, p := range pairs {
						v = append(v, m.get(p.via).q(q)-m.get(p.direct).q(q))
					}
					added[qi] = ms(median(v))
				}
				var d50, d99, v50, v99, ratio []time.Duration
				var own50, own99 []float64
				missing, cpuD, cpuV := 0, []time.Duration{}, []time.Duration{}
				for _, p := range pairs {
					d50, d99 = append(d50, m.get(p.direct).q(.5)), append(d99, m.get(p.direct).q(.99))
					v50, v99 = append(v50, m.get(p.via).q(.5)), append(v99, m.get(p.via).q(.99))
					if dd := m.get(p.direct).q(.99); dd > 0 {
						ratio = append(ratio, time.Duration(float64(m.get(p.via).q(.99))/float64(dd)*1000))
					}
					own50, own99 = append(own50, ownQ(p.via.own, .5)), append(own99, ownQ(p.via.own, .99))
					missing += p.via.missingTiming
					cpuD, cpuV = append(cpuD, p.direct.cpuPer1000), append(cpuV, p.via.cpuPer1000)
				}
				fmt.Printf("| %s | %d | %s | %s / %s | %s / %s | %s | %s | %s | %s | %.2f× | %.3f / %.3f | %s / %s | %d | %s / %s |\n",
					kind, rate, m.name, ms(median(d50)), ms(median(d99)), ms(median(v50)), ms(median(v99)),
					added[0], added[1], added[2], added[3], float64(median(ratio))/1000,
					medianF(own50), medianF(own99), orNone(strings.Join(nonEmpty(errD), "; ")), orNone(strings.Join(nonEmpty(errV), "; ")),
					missing, msPlain(median(cpuD)), msPlain(median(cpuV)))
			}
		}
	}
	fmt.Println()
}

// search finds the highest rate whose plain requests through Bulwark have
// p99 added latency under 1 ms and no errors: doubling from -search-start
// until a rate fails, then bisecting, one run pair per step.
func search(ctx context.Context, o options, direct, via *endpoint) {
	fmt.Printf("## Highest sustained rate with p99 added < 1 ms and no errors (plain, one pair of %s runs per step)\n\n", o.duration)
	fmt.Println("| step | rate/s | direct p99 | Bulwark p99 | added p99 | errors | verdict |")
	fmt.Println("|---:|---:|---:|---:|---:|---|---|")
	lo, hi := 0, 0
	rate := o.searchStart
	for step := 1; step <= o.searchSteps && ctx.Err() == nil; step++ {
		p, rd, rv := runPair(ctx, direct, via, false, rate, o.duration, step%2 == 0)
		added := p.via.total.q(.99) - p.direct.total.q(.99)
		errs := strings.Join(nonEmpty([]string{errSummary(rd), errSummary(rv)}), "; ")
		ok := errs == "" && added < time.Millisecond
		verdict := "fail"
		if ok {
			verdict, lo = "pass", rate
		} else {
			hi = rate
		}
		fmt.Printf("| %d | %d | %s | %s | %s | %s | %s |\n", step, rate, ms(p.direct.total.q(.99)), ms(p.via.total.q(.99)), ms(added), orNone(errs), verdict)
		switch {
		case hi == 0:
			rate *= 2
		default:
			rate = (lo + hi) / 2 / 100 * 100
		}
		if hi > 0 && (hi-lo) <= max(lo/10, 100) {
			break
		}
	}
	if lo == 0 {
		fmt.Printf("\nsustained: below %d req/s\n\n", hi)
	} else {
		fmt.Printf("\nsustained: %d req/s (next failing rate %d)\n\n", lo, hi)
	}
}

func pause() { time.Sleep(200 * time.Millisecond) }

func median(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func msPlain(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e6) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func nonEmpty(v []string) []string {
	var out []string
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown memory"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.Join(strings.Fields(line), " ")
}
