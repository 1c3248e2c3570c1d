package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/llm/local"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// tallyEmbedder embeds with the local model, slowly enough that replicas
// overlap, and counts how often each text was embedded.
type tallyEmbedder struct {
	localEmbedder
	mu    *sync.Mutex
	tally map[string]int
}

func (e tallyEmbedder) Embed(ctx context.Context, tenantID, model, priority string, inputs []string) ([][]float32, error) {
	e.mu.Lock()
	for _, in := range inputs {
		e.tally[in]++
	}
	e.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	return e.localEmbedder.Embed(ctx, tenantID, model, priority, inputs)
}

// queueFiles creates a store and attaches n one-chunk files to it through a
// service that is never started, so that the files wait in progress for
// the replicas under test; it returns the store and the files' texts.
func queueFiles(t *testing.T, repo rag.Repo, n int) (rag.Store, []string) {
	t.Helper()
	ctx := t.Context()
	s := rag.NewService(repo, localEmbedder{local.New("local")}, rag.Options{EmbedModel: "local-embed"})
	defer s.Close()
	st, err := s.CreateStore(ctx, "acme", "docs", nil, nil, chunk.Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i := range n {
		text := fmt.Sprintf("Document %d is about replica number %d and its lease.", i, i)
		f, err := s.CreateFile(ctx, "acme", fmt.Sprintf("doc%d.txt", i), "assistants", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AttachFile(ctx, "acme", st.ID, f.ID, chunk.Strategy{}, nil); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, text)
	}
	return st, texts
}

func waitCompleted(t *testing.T, s *rag.Service, st rag.Store, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := s.Store(t.Context(), "acme", st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Counts.Completed == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %+v; want %d completed", within, got.Counts, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicasIngestEachFileOnce: two replicas start on one Postgres with
// the same files in progress (both resume every one of them). With
// leases each file is ingested by one replica: every chunk is embedded
// once in all.
func TestReplicasIngestEachFileOnce(t *testing.T) {
	requirePostgres(t)
	url := newSchema(t)
	st, texts := queueFiles(t, open(t, url), 24)

	var mu sync.Mutex
	tally := map[string]int{}
	emb := tallyEmbedder{localEmbedder{local.New("local")}, &mu, tally}
	var replicas []*rag.Service
	for range 2 {
		s := rag.NewService(open(t, url), emb, rag.Options{EmbedModel: "local-embed", Lease: 2 * time.Second, Workers: 4})
		t.Cleanup(s.Close)
		replicas = append(replicas, s)
	}
	var wg sync.WaitGroup
	for _, s := range replicas {
		wg.Go(func() {
			if err := s.Start(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitCompleted(t, replicas[1], st, len(texts), 60*time.Second)

	mu.Lock()
	defer mu.Unlock()
	for _, text := range texts {
		if n := tally[text]; n != 1 {
			t.Errorf("%q embedded %d times; want 1", text, n)
		}
	}
}

// TestReplicaTakesOverAFileOfADeadOne: a file claimed by a replica that
// died (its lease is never renewed nor released) is taken over by
// another once the lease runs out, without a restart.
func TestReplicaTakesOverAFileOfADeadOne(t *testing.T) {
	requirePostgres(t)
	url := newSchema(t)
	repo := open(t, url)
	st, texts := queueFiles(t, repo, 3)
	files, _, err := repo.StoreFiles(t.Context(), "acme", st.ID, "", "", rag.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	dead := files[0].FileID
	if held, err := repo.Claim(t.Context(), st.ID, dead, "ingest_dead", 5*time.Second); err != nil || !held {
		t.Fatalf("Claim by the dead replica = %v, %v", held, err)
	}

	s := rag.NewService(open(t, url), localEmbedder{local.New("local")}, rag.Options{EmbedModel: "local-embed", Lease: 300 * time.Millisecond})
	t.Cleanup(s.Close)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The two others at once; the dead replica's after its lease.
	waitCompleted(t, s, st, 2, 30*time.Second)
	if sf, err := s.StoreFile(t.Context(), "acme", st.ID, dead); err != nil || sf.Status != rag.InProgress {
		t.Fatalf("the dead replica's file = %+v, %v; want in progress while its lease lasts", sf, err)
	}
	waitCompleted(t, s, st, len(texts), 30*time.Second)
}
