// Command ingest measures knowledge-base ingestion bounded by an embedding
// model's capacity, over HTTP with real processes (BENCHMARKS.md,
// "Ingestion under embedding capacity"). It starts `bulwark sim` as an
// OpenAI-compatible embedding server of fixed capacity (-slots concurrent
// calls of -service each, -queue more waiting, then 429: C = slots ÷
// service calls a second) and `bulwark serve` in front of it, whose
// knowledge bases embed through it (batch_inputs -batch, so C × batch
// chunks a second at most). It then
//
//  1. measures interactive embedding latency on the idle model: -probes
//     requests from 2 clients;
//
//  2. uploads -files Markdown files of -sections sections (one chunk each),
//     attaches them in one file batch and, while they ingest, sends the
//     same interactive requests;
//
//  3. reports ingestion throughput in chunks a second against the model's
//     capacity, and interactive p50/p99 during ingestion against idle.
//
//     go run ./bench/ingest                       # 2 slots of 20 ms, batches of 8
//     go run ./bench/ingest -slots 4              # twice the capacity
//     go run ./bench/ingest -bin ./bulwark -h     # a prebuilt binary; flags
package main

import (
	"context"
	"flag"
	"fmt"
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

type options struct {
	bin             string
	slots, queue    int
	service         time.Duration
	batch, workers  int
	files, sections int
	probes          int
	share           float64
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "bulwark binary (default: go build)")
	flag.IntVar(&o.slots, "slots", 2, "concurrent calls the embedding model serves")
	flag.IntVar(&o.queue, "queue", 2, "calls that may wait inside the model before it answers 429")
	flag.DurationVar(&o.service, "service", 20*time.Millisecond, "time of one embedding call")
	flag.IntVar(&o.batch, "batch", 8, "chunks embedded per call (knowledge.batch_inputs)")
	flag.IntVar(&o.workers, "workers", 8, "files ingested at once (knowledge.workers)")
	flag.IntVar(&o.files, "files", 16, "files to ingest")
	flag.IntVar(&o.sections, "sections", 100, "sections (chunks) per file")
	flag.IntVar(&o.probes, "probes", 200, "interactive requests on the idle model")
	flag.Float64Var(&o.share, "share", 0.25, "interactive calls a second, as a share of the model's capacity in calls")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "bulwark-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
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
	url := fmt.Sprintf("http://127.0.0.1:%d", servePort)
	simYAML := fmt.Sprintf(`disable_builtin_sim: true
providers:
  up:
    type: sim
    models:
      embed: {kind: embedding, dimensions: 64, ttft: {p50: %s}, max_concurrency: %d, queue: %d}
`, o.service, o.slots, o.queue)
	serveYAML := fmt.Sprintf(`log: {level: warn}
disable_builtin_sim: true
providers:
  gpu: {type: openai, base_url: %s/v1}
models:
  - name: kb-embed
    targets: [{provider: gpu, model: embed}]
knowledge: {embedding_model: kb-embed, batch_inputs: %d, workers: %d}
`, simURL, o.batch, o.workers)
	for name, body := range map[string]string{"sim.yaml": simYAML, "serve.yaml": serveYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	simProc, err := benchproc.Start("sim", bin, filepath.Join(dir, "sim.log"), nil,
		"sim", "--config", filepath.Join(dir, "sim.yaml"), "--listen", fmt.Sprintf("127.0.0.1:%d", simPort))
	if err != nil {
		return err
	}
	defer simProc.Stop(2 * time.Second)
	serveProc, err := benchproc.Start("serve", bin, filepath.Join(dir, "serve.log"), []string{"BULWARK_ADMIN_KEY=" + adminKey},
		"serve", "--config", filepath.Join(dir, "serve.yaml"), "--data-dir", filepath.Join(dir, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", servePort))
	if err != nil {
		return err
	}
	defer serveProc.Stop(5 * time.Second)
	for _, c := range []struct {
		p *benchproc.Child
		u string
	}{{simProc, simURL + "/v1/models"}, {serveProc, url + "/readyz"}} {
		if err := benchproc.WaitReady(ctx, c.p, c.u); err != nil {
			return err
		}
	}

	rate := o.share * float64(o.slots) / o.service.Seconds()
	api := benchproc.NewAPI(url, adminKey)
	idle, _ := probe(ctx, api, rate, o.probes, nil)
	alone, err := ingest(ctx, api, o, "alone")
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var during []time.Duration
	var refused int
	var wg sync.WaitGroup
	wg.Go(func() { during, refused = probe(ctx, api, rate, 1<<30, done) })
	shared, err := ingest(ctx, api, o, "shared")
	close(done)
	wg.Wait()
	if err != nil {
		return err
	}
	chunks := o.files * (o.sections + 1) // a section each, and the file's title
	capacity := float64(o.slots) / o.service.Seconds() * float64(o.batch)
	fmt.Printf("| %d | %v | %d | %d | %.0f | %.0f (%.2f) | %.0f (%.2f) | %.0f | %s | %s | %s | %s | %d |\n",
		o.slots, o.service, o.batch, chunks, capacity,
		float64(chunks)/alone.Seconds(), float64(chunks)/alone.Seconds()/capacity,
		float64(chunks)/shared.Seconds(), float64(chunks)/shared.Seconds()/capacity,
		rate, pct(idle, 50), pct(idle, 99), pct(during, 50), pct(during, 99), refused)
	return nil
}

// ingest uploads the files into a new store, attaches them in one batch
// and returns how long the ingestion took.
func ingest(ctx context.Context, api *benchproc.API, o options, name string) (time.Duration, error) {
	var store struct{ ID string }
	if err := api.JSON(ctx, "POST", "/v1/vector_stores", map[string]string{"name": name}, &store); err != nil {
		return 0, err
	}
	var ids []string
	for i := range o.files {
		var doc strings.Builder
		for j := range o.sections {
			fmt.Fprintf(&doc, "## Section %d of file %d in %s\n\nA paragraph of a few words, number %d, of file %d.\n\n", j, i, name, j, i)
		}
		id, err := api.Upload(ctx, fmt.Sprintf("file%d.md", i), doc.String())
		if err != nil {
			return 0, err
		}
		ids = append(ids, id)
	}
	start := time.Now()
	if err := api.JSON(ctx, "POST", "/v1/vector_stores/"+store.ID+"/file_batches", map[string]any{"file_ids": ids, "chunking_strategy": map[string]any{
		"type": "structure", "structure": map[string]int{"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}}, nil); err != nil {
		return 0, err
	}
	c, err := api.WaitStore(ctx, store.ID, 20*time.Millisecond)
	if err != nil {
		return 0, err
	}
	if c.Completed != o.files {
		return 0, fmt.Errorf("ingestion ended with %+v", c)
	}
	return time.Since(start), nil
}

// probe sends interactive embedding requests open loop, rate a second,
// n in all or until done closes, and returns the latencies of the
// answered ones (from their scheduled send time) and how many were
// refused.
func probe(ctx context.Context, api *benchproc.API, rate float64, n int, done <-chan struct{}) ([]time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	refused := 0
	var wg sync.WaitGroup
	gap := time.Duration(float64(time.Second) / rate)
	next := time.Now()
loop:
	for i := 0; i < n; i++ {
		select {
		case <-done:
			break loop
		case <-ctx.Done():
			break loop
		case <-time.After(time.Until(next)):
		}
		at := next
		next = next.Add(gap)
		wg.Go(func() {
			err := api.Call(ctx, "POST", "/v1/embeddings", "application/json", strings.NewReader(`{"model":"kb-embed","input":"where is the runbook?"}`), nil)
			d := time.Since(at)
			mu.Lock()
			if err != nil {
				refused++
			} else {
				lat = append(lat, d)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, refused
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	return d[min(len(d)-1, len(d)*p/100)].Round(100 * time.Microsecond).String()
}
