// Command capacity measures Bulwark's admission control in process: a
// simulated upstream of fixed capacity C behind the gateway, offered
// 0.5×, 1×, 2× and 5× C by two tenants (one steady, one bursting) with a
// mix of priority classes, once with admission control and once without
// (the naive proxy). It prints Markdown tables for BENCHMARKS.md.
//
//	go run ./bench/capacity            # the default run, under two minutes
//	go run ./bench/capacity -h         # flags
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tokens"
)

// steadyCritical is the -critical flag: critical traffic is 0.1 C in all
// rather than 10 % of every request.
var steadyCritical bool

// mixText says how requests are classed.
func mixText() string {
	if steadyCritical {
		return "critical a steady 0.1 C in all (each tenant's requests critical with the same probability, 0.1 C ÷ the offered load), the rest 2:1 interactive to batch"
	}
	return "10% critical, 60% interactive, 30% batch"
}

// criticalShare is the probability that a request is critical at an
// offered load of rate with capacity c.
func criticalShare(rate, c float64) float64 {
	if steadyCritical {
		return min(0.1, 0.1*c/rate)
	}
	return 0.1
}

// tolerance is the -tolerance flag.
var tolerance = new(float64)

// noDeadline is the -nodeadline flag: clients send no deadline (as an
// SDK's 600 s default), so only Bulwark bounds their wait.
var noDeadline bool

func main() {
	var (
		slots    = flag.Int("slots", 8, "the upstream's max_concurrency")
		service  = flag.Duration("service", 100*time.Millisecond, "the upstream's service time per call")
		queue    = flag.Int("queue", 32, "the upstream's own queue beyond its slots (then 429)")
		duration = flag.Duration("duration", 8*time.Second, "measured time per run")
		warmup   = flag.Duration("warmup", 2*time.Second, "unmeasured time before each run")
		loads    = flag.String("loads", "0.5,1,2,5", "offered loads, as multiples of C")
		sloMul   = flag.Float64("slo", 2, "the SLO (each request's deadline), as a multiple of the unloaded p99")
		seed     = flag.Uint64("seed", 1, "arrival and mix seed")
		tol      = flag.Float64("tolerance", 1.2, "the limiter's latency tolerance (models.capacity.latency_tolerance; Bulwark's default is 1.5)")
		verbose  = flag.Bool("v", false, "print admission control's state after each run to stderr")
		fixed    = flag.Duration("unloaded", 0, "use this unloaded p99 instead of measuring it (on a busy machine the measurement drifts)")
		noDl     = flag.Bool("nodeadline", false, "clients send no deadline (an SDK's 600 s default counts as none); goodput still counts answers within the SLO")
		critMix  = flag.String("critical", "share", "critical traffic: share (10% of every tenant's requests, so it grows with the overload) or steady (0.1 C in all, however large the overload: critical journeys do not burst with the rest)")
	)
	flag.Parse()
	*tolerance = *tol
	noDeadline = *noDl
	if *critMix != "share" && *critMix != "steady" {
		fmt.Fprintf(os.Stderr, "bad -critical %q: share or steady\n", *critMix)
		os.Exit(2)
	}
	steadyCritical = *critMix == "steady"
	c := float64(*slots) / service.Seconds()
	var levels []float64
	for _, s := range strings.Split(*loads, ",") {
		var f float64
		if _, err := fmt.Sscanf(strings.TrimSpace(s), "%g", &f); err != nil || f <= 0 {
			fmt.Fprintf(os.Stderr, "bad load %q\n", s)
			os.Exit(2)
		}
		levels = append(levels, f)
	}
	yaml := fmt.Sprintf(`disable_builtin_sim: true
providers:
  up: {type: sim, models: {m: {ttft: {p50: %s}, output_tokens: {min: 8, max: 8}, max_concurrency: %d, queue: %d}}}
models:
  - name: chat
    targets: [{provider: up, model: m}]
`, *service, *slots, *queue)

	// As bulwark serve does at start: no request waits for a vocabulary.
	tokens.Preload()
	// The unloaded p99: one call at a time, admission off.
	unloaded := *fixed
	if unloaded <= 0 {
		unloaded = measureUnloaded(yaml)
	}
	slo := time.Duration(float64(unloaded) * *sloMul)
	fmt.Printf("## Capacity benchmark\n\n")
	fmt.Printf("Upstream: simulator, %d slots × %s per call (+%d queued, then 429): C = %.0f answers/s. "+
		"Unloaded p99 %s; SLO and every request's deadline %s. %s measured after %s warm-up per run. "+
		"Mix: %s; tenant quiet offers a steady 0.25 C, tenant burst the rest in 1s on/off bursts (1.5× / 0.5× its mean). "+
		"Limiter latency tolerance %g.\n\n",
		*slots, *service, *queue, c, unloaded.Round(time.Millisecond), slo.Round(time.Millisecond), *duration, *warmup, mixText(), *tol)
	fmt.Println("| load | admission | goodput / C | admitted p99 | critical ok | interactive ok | batch ok | quiet ok | burst ok | shed (429/503 by Bulwark) | upstream 429 / timeouts |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	var lossRows []string
	for _, f := range levels {
		for _, on := range []bool{true, false} {
			r := run(yaml, on, f*c, c, slo, *duration, *warmup, *seed)
			if *verbose && r.ctl != nil {
				b, _ := json.Marshal(r.ctl.Snapshot().Targets)
				fmt.Fprintf(os.Stderr, "%.1f× C: %s\n", f, b)
			}
			mode := "on"
			if !on {
				mode = "off (naive)"
			}
			fmt.Printf("| %.1f× C | %s | %.2f | %s | %s | %s | %s | %s | %s | %.1f%% | %.1f%% |\n",
				f, mode, float64(r.good)/duration.Seconds()/c, r.p99().Round(time.Millisecond),
				r.okRate("critical"), r.okRate("interactive"), r.okRate("batch"), r.okRate("quiet"), r.okRate("burst"),
				100*float64(r.shed)/float64(max(r.total, 1)), 100*float64(r.failed)/float64(max(r.total, 1)))
			if on {
				for _, k := range []string{"critical", "interactive", "batch", "quiet", "burst"} {
					lossRows = append(lossRows, fmt.Sprintf("| %.1f× C | %s | %s |", f, k, r.lostRow(k)))
				}
			}
		}
	}
	fmt.Println()
	fmt.Println("Why requests were not answered within the SLO, admission on, as a share of each class's or tenant's requests " +
		"(shed reasons from package shed; *late*: answered after the SLO; otherwise the upstream failure's kind):")
	fmt.Println()
	fmt.Println("| load | class / tenant | lost |")
	fmt.Println("|---|---|---|")
	for _, row := range lossRows {
		fmt.Println(row)
	}
	fmt.Println()
	fmt.Println("*goodput*: answers within the SLO per second ÷ C. *ok*: answered within the SLO, per class and tenant. " +
		"*shed*: refused at once by admission control (503 overloaded, 429 over the tenant's share). " +
		"*upstream 429 / timeouts*: every other failure (the upstream refused, or the deadline passed).")
}

// world is one gateway over a fresh simulator, and its admission control
// (nil when off).
func world(yaml string, on bool) (*gateway.Gateway, *shed.Controller) {
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		panic(err)
	}
	clients := map[string]llm.Provider{}
	for name, pc := range cfg.Providers {
		clients[name] = sim.New(name, pc.Seed, pc.SimModels)
	}
	tbl, err := route.New(cfg.Models, clients, nil)
	if err != nil {
		panic(err)
	}
	var o gateway.Options
	if on {
		o.Capacity = shed.New(shed.Options{})
		o.Capacity.Configure("up/m", shed.Config{Tolerance: *tolerance})
	}
	return gateway.New(tbl, o), o.Capacity
}

func measureUnloaded(yaml string) time.Duration {
	g, _ := world(yaml, false)
	var lat []time.Duration
	for range 50 {
		start := time.Now()
		if _, _, err := g.Chat(context.Background(), tenant.Principal{}, req("interactive")); err != nil {
			panic(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

func req(class string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: "chat", Priority: class, Messages: []llm.Message{{Role: "user", Content: "hello there"}}}
}

// result is one run's tally.
type result struct {
	mu                        sync.Mutex
	total, good, shed, failed int
	latency                   []time.Duration // answered within the SLO
	sent, ok                  map[string]int  // by class and by tenant
	// lost counts the requests not answered within the SLO, by class and
	// by tenant, then by why: the shed reason, "late" (answered after the
	// SLO) or the upstream failure's kind.
	lost                       map[string]map[string]int
	measureFrom, measureBefore time.Time
	ctl                        *shed.Controller
}

func (r *result) p99() time.Duration {
	if len(r.latency) == 0 {
		return 0
	}
	slices.Sort(r.latency)
	return r.latency[len(r.latency)*99/100]
}

// lostWhy says why a request was not answered within slo, "" when it was.
func lostWhy(err error, lat, slo time.Duration) string {
	if se, ok := shed.IsShed(err); ok {
		return se.Reason
	}
	switch {
	case err != nil:
		return llm.KindOf(err).String()
	case lat > slo:
		return "late"
	}
	return ""
}

func (r *result) lose(k, why string) {
	if r.lost[k] == nil {
		r.lost[k] = map[string]int{}
	}
	r.lost[k][why]++
}

// lostRow is "reason n%, …" of the sent requests of k, most first.
func (r *result) lostRow(k string) string {
	type kv struct {
		why string
		n   int
	}
	var ws []kv
	for w, n := range r.lost[k] {
		ws = append(ws, kv{w, n})
	}
	if len(ws) == 0 {
		return "–"
	}
	slices.SortFunc(ws, func(a, b kv) int { return b.n - a.n })
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s %.1f%%", w.why, 100*float64(w.n)/float64(max(r.sent[k], 1)))
	}
	return strings.Join(parts, ", ")
}

func (r *result) okRate(k string) string {
	if r.sent[k] == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(r.ok[k])/float64(r.sent[k]))
}

// run offers rate requests a second for warmup+d and tallies those sent
// after the warm-up.
func run(yaml string, on bool, rate, c float64, slo, d, warmup time.Duration, seed uint64) *result {
	g, ctl := world(yaml, on)
	rnd := rand.New(rand.NewPCG(seed, 2))
	start := time.Now()
	res := &result{ctl: ctl, sent: map[string]int{}, ok: map[string]int{}, lost: map[string]map[string]int{}, measureFrom: start.Add(warmup), measureBefore: start.Add(warmup + d)}
	quietRate := 0.25 * c
	burstRate := max(rate-quietRate, 0)
	var wg sync.WaitGroup
	gen := func(tn string, rateAt func(time.Duration) float64) {
		defer wg.Done()
		var mu sync.Mutex // rnd is not safe for concurrent use
		next := time.Now()
		for next.Before(res.measureBefore) {
			r := rateAt(next.Sub(start))
			if r <= 0 {
				next = next.Add(10 * time.Millisecond)
				continue
			}
			next = next.Add(time.Duration(float64(time.Second) / r))
			time.Sleep(time.Until(next))
			mu.Lock()
			p := rnd.Float64()
			mu.Unlock()
			class := "interactive"
			switch pc := criticalShare(rate, c); {
			case p < pc:
				class = "critical"
			case p >= pc+(1-pc)*2/3:
				class = "batch"
			}
			wg.Add(1)
			go func(sentAt time.Time) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), slo)
				if noDeadline {
					ctx, cancel = context.WithCancel(context.Background())
				}
				defer cancel()
				_, _, err := g.Chat(ctx, tenant.Principal{TenantID: tn}, req(class))
				lat := time.Since(sentAt)
				if sentAt.Before(res.measureFrom) {
					return
				}
				res.mu.Lock()
				defer res.mu.Unlock()
				if why := lostWhy(err, lat, slo); why != "" {
					res.lose(class, why)
					res.lose(tn, why)
				}
				res.total++
				res.sent[class]++
				res.sent[tn]++
				switch {
				case err == nil && noDeadline && lat > slo: // late: counted in the admitted p99
					res.failed++
					res.latency = append(res.latency, lat)
				case err == nil && lat <= slo:
					res.good++
					res.ok[class]++
					res.ok[tn]++
					res.latency = append(res.latency, lat)
				case errors.Is(err, shed.ErrOverloaded):
					res.shed++
				default:
					res.failed++
				}
			}(time.Now())
		}
	}
	wg.Add(2)
	go gen("quiet", func(time.Duration) float64 { return quietRate })
	go gen("burst", func(t time.Duration) float64 {
		if int(t.Seconds())%2 == 0 {
			return 1.5 * burstRate
		}
		return 0.5 * burstRate
	})
	wg.Wait()
	return res
}
