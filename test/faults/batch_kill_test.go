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
)

// batchSim answers chat slowly enough (60 ms a call, two lines at once)
// that a kill lands mid-batch.
const batchSim = `
log: {level: info}
providers:
  lab:
    type: sim
    models:
      slow-chat: {ttft: {p50: 60ms, p99: 80ms}, output_tokens: {min: 3, max: 3}}
models:
  - name: chat
    targets: [{provider: lab, model: slow-chat}]
knowledge: {batch_workers: 2}
`

// Issue 18 item 3: a batch killed with SIGKILL at random moments, again
// and again, resumes at each restart and ends completed with every line's
// result in the output file exactly once, and one stored result a line.
func TestKilledBatchResumesWithoutLossOrDuplicates(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, batchSim)
	const lines = 80
	var in strings.Builder
	for i := range lines {
		fmt.Fprintf(&in, `{"custom_id":"line-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"chat","messages":[{"role":"user","content":"hello %d"}]}}`+"\n", i, i)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("purpose", "batch")
	fw, _ := w.CreateFormFile("file", "input.jsonl")
	_, _ = fw.Write([]byte(in.String()))
	_ = w.Close()
	status, b, err := p.do(ctx, "POST", "/v1/files", body.String(), "Content-Type", w.FormDataContentType())
	if err != nil || status != http.StatusOK {
		t.Fatalf("upload: %d %s %v", status, b, err)
	}
	var file struct{ ID string }
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	status, b, err = p.do(ctx, "POST", "/v1/batches", fmt.Sprintf(`{"input_file_id":%q,"endpoint":"/v1/chat/completions","completion_window":"24h"}`, file.ID))
	if err != nil || status != http.StatusOK {
		t.Fatalf("create batch: %d %s %v", status, b, err)
	}
	var created struct{ ID string }
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(18, 3))
	resumed := 0
	for trial := range 5 {
		time.Sleep(time.Duration(150+rng.IntN(250)) * time.Millisecond)
		p.kill()
		p = serve(t, data, batchSim)
		// The runner logs the resume as it starts, just after the
		// process is ready.
		time.Sleep(50 * time.Millisecond)
		if strings.Contains(p.logs.String(), "resuming batch") {
			resumed++
		}
		t.Logf("kill %d: restarted", trial+1)
	}
	if resumed < 3 {
		t.Fatalf("only %d kills landed while the batch ran", resumed)
	}
	var batch struct {
		Status        string `json:"status"`
		OutputFileID  string `json:"output_file_id"`
		ErrorFileID   *string
		RequestCounts struct{ Total, Completed, Failed int } `json:"request_counts"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, b, err := p.do(ctx, "GET", "/v1/batches/"+created.ID, "")
		if err != nil || status != 200 {
			t.Fatalf("read batch: %d %s %v", status, b, err)
		}
		if err := json.Unmarshal(b, &batch); err != nil {
			t.Fatal(err)
		}
		if batch.Status == "completed" {
			break
		}
		if batch.Status != "validating" && batch.Status != "in_progress" && batch.Status != "finalizing" {
			t.Fatalf("batch after the kills: %s", b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batch did not finish: %s\n%s", b, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if batch.RequestCounts.Total != lines || batch.RequestCounts.Completed != lines || batch.RequestCounts.Failed != 0 {
		t.Errorf("counts %+v", batch.RequestCounts)
	}
	status, out, err := p.do(ctx, "GET", "/v1/files/"+batch.OutputFileID+"/content", "")
	if err != nil || status != 200 {
		t.Fatalf("output: %d %v", status, err)
	}
	seen := map[string]int{}
	for l := range strings.Lines(string(out)) {
		var o struct {
			CustomID string `json:"custom_id"`
			Response struct {
				StatusCode int `json:"status_code"`
			} `json:"response"`
		}
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		if o.Response.StatusCode != 200 {
			t.Errorf("line %s: status %d", o.CustomID, o.Response.StatusCode)
		}
		seen[o.CustomID]++
	}
	for i := range lines {
		if n := seen[fmt.Sprintf("line-%d", i)]; n != 1 {
			t.Errorf("line-%d is in the output %d times", i, n)
		}
	}
	if len(seen) != lines {
		t.Errorf("%d custom ids in the output, want %d", len(seen), lines)
	}
	if err := p.term(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "bulwark.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var results, distinct int
	if err := db.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT line_index) FROM batch_results WHERE batch_id = ?", created.ID).Scan(&results, &distinct); err != nil {
		t.Fatal(err)
	}
	if results != lines || distinct != lines {
		t.Errorf("%d results stored for %d lines (%d distinct)", results, lines, distinct)
	}
	var files int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM kb_files WHERE purpose = 'batch_output'").Scan(&files); err != nil || files != 1 {
		t.Errorf("%d output files (%v), want 1", files, err)
	}
}
