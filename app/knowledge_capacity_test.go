package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// capacityKB is an embedding model that serves two calls at once (a GPU's
// worth) and refuses a third with 429, as a self-hosted embedding server
// does: ingestion embeds through it at batch priority while clients embed
// interactively.
const capacityKB = `
log: {level: warn}
providers:
  lab:
    type: sim
    models:
      gpu-embed: {kind: embedding, dimensions: 16, ttft: {p50: 15ms, p99: 20ms}, max_concurrency: 2, queue: 2}
models:
  - name: kb-embed
    targets: [{provider: lab, model: gpu-embed}]
knowledge: {embedding_model: kb-embed, batch_inputs: 2, workers: 8}
`

// Issue 15 item 4: ingestion bounded by an embedding model's capacity
// completes every file, and interactive embedding requests sent while it
// runs are answered, ahead of it: at most 2% refused (none on a quiet
// machine). (How long they take, against the same requests on an idle
// model, is measured by bench/ingest, not asserted here.)
func TestIngestionYieldsToInteractiveEmbeddings(t *testing.T) {
	ts := start(t, capacityKB)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("capacity")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 8 {
		var doc strings.Builder
		for j := range 12 {
			fmt.Fprintf(&doc, "## Part %d.%d\n\nParagraph %d of document %d, about nothing in particular.\n\n", i, j, j, i)
		}
		f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(doc.String()), fmt.Sprintf("doc%d.md", i), "text/markdown"),
			Purpose: openai.FilePurposeAssistants})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	body, _ := json.Marshal(map[string]any{"file_ids": ids, "chunking_strategy": map[string]any{
		"type": "structure", "structure": map[string]int{"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}})
	if resp, b := ts.do(t, "POST", "/v1/vector_stores/"+store.ID+"/file_batches", string(body)); resp.StatusCode != 200 {
		t.Fatalf("batch: %d %s", resp.StatusCode, b)
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		refused   []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				resp, b := ts.do(t, "POST", "/v1/embeddings", `{"model":"kb-embed","input":"where is the on-call runbook?"}`)
				mu.Lock()
				if resp.StatusCode != 200 {
					refused = append(refused, fmt.Sprintf("%d %s", resp.StatusCode, b))
				} else {
					latencies = append(latencies, time.Since(t0))
				}
				mu.Unlock()
			}
		})
	}
	// A bound on a hang, not a speed: the race detector on a loaded
	// 2-core machine has taken over a minute.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s, err := c.VectorStores.Get(ctx, store.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.FileCounts.InProgress == 0 {
			if s.FileCounts.Completed != int64(len(ids)) {
				t.Fatalf("file counts %+v", s.FileCounts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingestion did not finish: %+v", s.FileCounts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(latencies) == 0 {
		t.Fatal("no interactive request was answered during ingestion")
	}
	// On a quiet machine none is refused (bench/ingest: 0 of every run).
	// Under -race with every package's tests at once, admission control
	// may shed one whose wait the starved process itself stretched; what
	// this guards against is ingestion taking interactive traffic down
	// (54,161 of 56,211 refused when a 429 opened the breaker).
	if total := len(refused) + len(latencies); len(refused)*50 > total {
		t.Errorf("%d of %d interactive requests refused during ingestion, e.g. %s", len(refused), total, refused[0])
	} else if len(refused) > 0 {
		t.Logf("%d of %d interactive requests refused during ingestion, e.g. %s", len(refused), total, refused[0])
	}
	slices.Sort(latencies)
	t.Logf("%d interactive embeddings during ingestion: p50 %v, max %v", len(latencies), latencies[len(latencies)/2], latencies[len(latencies)-1])
}
