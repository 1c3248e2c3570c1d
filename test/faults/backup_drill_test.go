package faults

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drillSim answers chats and embeds at once.
const drillSim = `
log: {level: info}
providers:
  lab:
    type: sim
    models:
      quick-chat:
        ttft: {p50: 1ms}
        itl: {p50: 1ms}
        output_tokens: {min: 8, max: 8}
      quick-embed: {kind: embedding, dimensions: 32, ttft: {p50: 2ms}}
models:
  - name: chat
    targets: [{provider: lab, model: quick-chat}]
  - name: kb-embed
    targets: [{provider: lab, model: quick-embed}]
knowledge: {embedding_model: kb-embed, batch_inputs: 4, workers: 2}
`

// Issue 16 item 7, the restore drill: `bulwark backup` runs while a
// server takes chat traffic and ingests files; the data directory is then
// destroyed, `bulwark restore` rebuilds it, and the restored server
// answers as the first did: every key authenticates (and the revoked one
// does not), the tenants are the same, every usage record acknowledged
// before the backup began is in the ledger exactly once, the files and
// the vector store's files are there, and a search returns the same
// results.
func TestBackupRestoreDrill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	archive := filepath.Join(dir, "bulwark-backup.tar.gz")
	p := serve(t, data, drillSim)

	// Tenants and keys.
	mustDo := func(p *proc, method, path, body string, want int) []byte {
		t.Helper()
		status, b, err := p.do(ctx, method, path, body)
		if err != nil || status != want {
			t.Fatalf("%s %s: %d %s %v", method, path, status, b, err)
		}
		return b
	}
	var secrets []string
	revoked := ""
	for _, tn := range []string{"acme", "globex"} {
		mustDo(p, "POST", "/admin/v1/tenants", fmt.Sprintf(`{"id":%q,"name":"%s Inc."}`, tn, tn), http.StatusCreated)
		for i := range 3 {
			var k struct{ ID, Secret string }
			if err := json.Unmarshal(mustDo(p, "POST", "/admin/v1/keys", fmt.Sprintf(`{"tenant_id":%q,"name":"k%d"}`, tn, i), http.StatusCreated), &k); err != nil {
				t.Fatal(err)
			}
			if tn == "globex" && i == 2 {
				mustDo(p, "POST", "/admin/v1/keys/"+k.ID+"/revoke", "", http.StatusOK)
				revoked = k.Secret
				continue
			}
			secrets = append(secrets, k.Secret)
		}
	}
	tenantsBefore := mustDo(p, "GET", "/admin/v1/tenants", "", http.StatusOK)

	// A vector store whose files are ingested before the backup, and
	// another still ingesting while it runs.
	newStore := func(name string, files int) (string, []string) {
		var st struct{ ID string }
		if err := json.Unmarshal(mustDo(p, "POST", "/v1/vector_stores", fmt.Sprintf(`{"name":%q}`, name), http.StatusOK), &st); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range files {
			id, err := uploadFile(ctx, p, fmt.Sprintf("%s-%d.md", name, i), manual(fmt.Sprintf("%s-%d", name, i), 12))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		req, _ := json.Marshal(map[string]any{"file_ids": ids})
		mustDo(p, "POST", "/v1/vector_stores/"+st.ID+"/file_batches", string(req), http.StatusOK)
		return st.ID, ids
	}
	manuals, manualFiles := newStore("manuals", 4)
	waitIngested(ctx, t, p, manuals, len(manualFiles))

	// Chat traffic, through every key, before, during and after the backup.
	var (
		mu    sync.Mutex
		acked []string
		seq   atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 6 {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				id := fmt.Sprintf("drill-%d", seq.Add(1))
				status, b, err := p.chatAs(ctx, secrets[w%len(secrets)], id)
				if err != nil && !stop.Load() {
					t.Errorf("chat %s: %v", id, err)
					return
				}
				// A request shed under load (429, 503) is not
				// acknowledged; anything else is a failure.
				if err == nil && status != http.StatusOK && status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
					t.Errorf("chat %s: %d %s", id, status, b)
					return
				}
				if err == nil && status == http.StatusOK && strings.Contains(string(b), `"finish_reason"`) {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		})
	}
	waitFor(ctx, t, "100 chats", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 100 })
	more, moreFiles := newStore("more", 3) // ingesting during the backup

	mu.Lock()
	before := slices.Clone(acked) // acknowledged before the backup began
	mu.Unlock()
	backup := exec.CommandContext(ctx, bin, "backup", "--data-dir", data, "--out", archive)
	if out, err := backup.CombinedOutput(); err != nil {
		t.Fatalf("bulwark backup: %v\n%s", err, out)
	}
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	waitFor(ctx, t, "20 chats after the backup", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= len(before)+during+20 })
	stop.Store(true)
	wg.Wait()
	t.Logf("%d chats acknowledged before the backup, %d while it ran", len(before), during)

	// The search to compare with, once the store that was ingesting
	// during the backup has finished (the restored server resumes it, and
	// keyword scores depend on every chunk stored).
	waitIngested(ctx, t, p, more, len(moreFiles))
	const query = `{"query":"topic 7 in a few plain words","max_num_results":8}`
	searchBefore := searchHits(t, mustDo(p, "POST", "/v1/vector_stores/"+manuals+"/search", query, http.StatusOK))
	if len(searchBefore) == 0 {
		t.Fatal("the search before the backup found nothing")
	}

	// Disaster: the server stops and its data directory is gone.
	if err := p.term(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, bin, "backup", "verify", archive).CombinedOutput(); err != nil {
		t.Fatalf("bulwark backup verify: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, bin, "restore", "--archive", archive, "--data-dir", data).CombinedOutput(); err != nil {
		t.Fatalf("bulwark restore: %v\n%s", err, out)
	}
	p = serve(t, data, drillSim)

	for i, s := range secrets {
		if status := p.authAs(ctx, t, s); status != http.StatusOK {
			t.Errorf("key %d answers %d after the restore", i, status)
		}
	}
	if status := p.authAs(ctx, t, revoked); status != http.StatusUnauthorized {
		t.Errorf("the revoked key answers %d after the restore, want 401", status)
	}
	if after := mustDo(p, "GET", "/admin/v1/tenants", "", http.StatusOK); !reflect.DeepEqual(tenantList(t, after), tenantList(t, tenantsBefore)) {
		t.Errorf("tenants after the restore:\n%s\nbefore:\n%s", after, tenantsBefore)
	}
	var files struct{ Data []struct{ ID string } }
	if err := json.Unmarshal(mustDo(p, "GET", "/v1/files", "", http.StatusOK), &files); err != nil {
		t.Fatal(err)
	}
	var fileIDs []string
	for _, f := range files.Data {
		fileIDs = append(fileIDs, f.ID)
	}
	for _, id := range append(slices.Clone(manualFiles), moreFiles...) {
		if !slices.Contains(fileIDs, id) {
			t.Errorf("file %s is missing after the restore", id)
		}
	}
	// The store ingesting during the backup resumes and completes; then
	// a search answers as before (the vector index rebuilt from the
	// database).
	waitIngested(ctx, t, p, manuals, len(manualFiles))
	waitIngested(ctx, t, p, more, len(moreFiles))
	searchAfter := searchHits(t, mustDo(p, "POST", "/v1/vector_stores/"+manuals+"/search", query, http.StatusOK))
	if !reflect.DeepEqual(searchAfter, searchBefore) {
		t.Errorf("search after the restore:\n%s\nbefore:\n%s", hitsString(searchAfter), hitsString(searchBefore))
	}

	// The ledger, once the restored usage log is replayed (readiness
	// says so) and the server has stopped.
	waitFor(ctx, t, "the usage log's replay", func() bool { return p.readyz(t).Checks["usage"].Status == "ok" })
	if err := p.term(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	counts := usageByRequest(ctx, t, filepath.Join(data, "bulwark.db"))
	missing, twice := 0, 0
	ackedBefore := map[string]bool{}
	for _, id := range before {
		ackedBefore[id] = true
		switch counts[id] {
		case 1:
		case 0:
			missing++
		default:
			twice++
		}
	}
	for id, n := range counts {
		if n > 1 && id != "" && !ackedBefore[id] { // "": the knowledge bases' own embedding calls
			twice++
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("of %d usage records acknowledged before the backup, %d are missing after the restore; %d records are there more than once", len(before), missing, twice)
	}
}

// authAs returns the status of GET /v1/models with key secret.
func (p *proc) authAs(ctx context.Context, t *testing.T, secret string) int {
	t.Helper()
	status, _, err := p.doAs(ctx, secret, "GET", "/v1/models", "")
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// doAs is do with another key than the admin key.
func (p *proc) doAs(ctx context.Context, secret, method, path, body string, hdr ...string) (int, []byte, error) {
	return p.do(ctx, method, path, body, append([]string{"Authorization", "Bearer " + secret}, hdr...)...)
}

// waitFor polls cond until it holds, failing the test when ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitIngested waits until store has n files completed and none in
// progress.
func waitIngested(ctx context.Context, t *testing.T, p *proc, store string, n int) {
	t.Helper()
	waitFor(ctx, t, "ingestion of "+store, func() bool {
		status, b, err := p.do(ctx, "GET", "/v1/vector_stores/"+store, "")
		if err != nil || status != http.StatusOK {
			t.Fatalf("read store %s: %d %s %v", store, status, b, err)
		}
		var s struct {
			FileCounts struct {
				InProgress int `json:"in_progress"`
				Completed  int `json:"completed"`
				Failed     int `json:"failed"`
			} `json:"file_counts"`
		}
		_ = json.Unmarshal(b, &s)
		if s.FileCounts.Failed > 0 {
			t.Fatalf("store %s: files failed: %s", store, b)
		}
		return s.FileCounts.InProgress == 0 && s.FileCounts.Completed == n
	})
}

// hit is one search result, as compared across the restore.
type hit struct {
	FileID string
	Score  string // to 6 decimals
	Text   string
}

func searchHits(t *testing.T, b []byte) []hit {
	t.Helper()
	var resp struct {
		Data []struct {
			FileID  string  `json:"file_id"`
			Score   float64 `json:"score"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("search answer %s: %v", b, err)
	}
	var hits []hit
	for _, d := range resp.Data {
		var text []string
		for _, c := range d.Content {
			text = append(text, c.Text)
		}
		hits = append(hits, hit{FileID: d.FileID, Score: fmt.Sprintf("%.6f", d.Score), Text: strings.Join(text, "\n")})
	}
	// The order of results with equal scores is not specified.
	slices.SortStableFunc(hits, func(a, b hit) int {
		return cmp.Or(-cmp.Compare(a.Score, b.Score), cmp.Compare(a.FileID, b.FileID), cmp.Compare(a.Text, b.Text))
	})
	return hits
}

// tenantList is the tenants of a GET /admin/v1/tenants answer, by id.
func tenantList(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var resp struct{ Data []json.RawMessage }
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, raw := range resp.Data {
		var tn struct{ ID string }
		_ = json.Unmarshal(raw, &tn)
		out[tn.ID] = string(raw)
	}
	return out
}

// usageByRequest counts the ledger's records by request id.
func usageByRequest(ctx context.Context, t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT request_id, count(*) FROM usage_records GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

func hitsString(hits []hit) string {
	var b strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&b, "  %s %s %q\n", h.FileID, h.Score, h.Text[:min(len(h.Text), 60)])
	}
	return b.String()
}
