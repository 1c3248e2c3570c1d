package faults

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// kbSim embeds slowly enough (80 ms a call of two chunks) that a kill
// lands mid-ingestion.
const kbSim = `
log: {level: info}
providers:
  lab:
    type: sim
    models:
      slow-embed: {kind: embedding, dimensions: 16, ttft: {p50: 80ms, p99: 100ms}}
models:
  - name: kb-embed
    targets: [{provider: lab, model: slow-embed}]
knowledge: {embedding_model: kb-embed, batch_inputs: 2, workers: 2}
`

// manual returns a Markdown document of n sections, one chunk each with
// 100-token structure chunking.
func manual(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", name)
	for i := range n {
		fmt.Fprintf(&b, "## %s section %d\n\nThis section of %s covers topic %d in a few plain words.\n\n", name, i, name, i)
	}
	return b.String()
}

// uploadFile uploads content as a file and returns its id.
func uploadFile(ctx context.Context, p *proc, name, content string) (string, error) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("purpose", "assistants")
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write([]byte(content))
	_ = w.Close()
	status, b, err := p.do(ctx, "POST", "/v1/files", body.String(), "Content-Type", w.FormDataContentType())
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("upload %s: %d %s %v", name, status, b, err)
	}
	var f struct{ ID string }
	return f.ID, json.Unmarshal(b, &f)
}

// Issue 15 item 3: ingestion killed with SIGKILL at random moments, again
// and again, resumes at each restart and ends with every acknowledged file
// completed and every chunk stored exactly once.
func TestKilledIngestionResumesWithoutLossOrDuplicates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p := serve(t, data, kbSim)
	status, b, err := p.do(ctx, "POST", "/v1/vector_stores", `{"name":"manuals"}`)
	if err != nil || status != 200 {
		t.Fatalf("create store: %d %s %v", status, b, err)
	}
	var store struct{ ID string }
	if err := json.Unmarshal(b, &store); err != nil {
		t.Fatal(err)
	}
	strategy := chunk.Strategy{Type: chunk.Structure, Structure: &chunk.Sizes{MaxChunkSizeTokens: 100}}
	docs := map[string]string{} // file id → content
	var ids []string
	for i := range 6 {
		content := manual(fmt.Sprintf("manual-%d", i), 30)
		id, err := uploadFile(ctx, p, fmt.Sprintf("manual-%d.md", i), content)
		if err != nil {
			t.Fatal(err)
		}
		docs[id] = content
		ids = append(ids, id)
	}
	req, _ := json.Marshal(map[string]any{"file_ids": ids, "chunking_strategy": strategy})
	if status, b, err := p.do(ctx, "POST", "/v1/vector_stores/"+store.ID+"/file_batches", string(req)); err != nil || status != 200 {
		t.Fatalf("create batch: %d %s %v", status, b, err)
	}
	rng := rand.New(rand.NewPCG(15, 3))
	resumed := 0
	for trial := range 5 {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		p.kill()
		p = serve(t, data, kbSim)
		if strings.Contains(p.logs.String(), "resuming ingestion") {
			resumed++
		}
		t.Logf("kill %d: restarted", trial+1)
	}
	if resumed < 3 {
		t.Fatalf("only %d kills landed while files were in progress", resumed)
	}
	t.Logf("%d of 5 restarts resumed files in progress", resumed)
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, b, err := p.do(ctx, "GET", "/v1/vector_stores/"+store.ID, "")
		if err != nil || status != 200 {
			t.Fatalf("read store: %d %s %v", status, b, err)
		}
		var s struct {
			FileCounts struct {
				InProgress int `json:"in_progress"`
				Completed  int `json:"completed"`
			} `json:"file_counts"`
		}
		_ = json.Unmarshal(b, &s)
		if s.FileCounts.InProgress == 0 {
			if s.FileCounts.Completed != len(ids) {
				t.Fatalf("store after the kills: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingestion did not finish: %s\n%s", b, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.term(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "bulwark.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id, content := range docs {
		pieces, err := rag.Split(ctx, "x.md", []byte(content), strategy)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, "SELECT idx, hash FROM kb_chunks WHERE store_id = ? AND file_id = ? ORDER BY idx", store.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for rows.Next() {
			var idx int
			var hash string
			if err := rows.Scan(&idx, &hash); err != nil {
				t.Fatal(err)
			}
			if idx != n || idx >= len(pieces) || pieces[idx].Hash != hash {
				t.Errorf("file %s: chunk %d stored as index %d", id, n, idx)
			}
			n++
		}
		rows.Close()
		if n != len(pieces) {
			t.Errorf("file %s: %d chunks stored, want %d", id, n, len(pieces))
		}
		var fts int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM kb_chunks_fts f JOIN kb_chunks c ON c.id = f.rowid WHERE c.file_id = ?", id).Scan(&fts); err != nil || fts != n {
			t.Errorf("file %s: %d keyword rows for %d chunks (%v)", id, fts, n, err)
		}
	}
}
