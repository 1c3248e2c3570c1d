package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fastKB shortens ingestion's waits for the test.
func fastKB(t *testing.T) {
	t.Helper()
	backoff, poll := kbBackoff, kbPoll
	kbBackoff, kbPoll = time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { kbBackoff, kbPoll = backoff, poll })
}

// kbSite serves a sitemap of a page, a page that answers 503 twice before
// it answers, and a page that is not found.
func kbSite(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var flaky atomic.Int32
	mux := http.NewServeMux()
	var site *httptest.Server
	mux.HandleFunc("GET /sitemap.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>%[1]s/guide/travel</loc></url>
  <url><loc>%[1]s/guide/flaky</loc></url>
  <url><loc>%[1]s/guide/missing</loc></url>
</urlset>`, site.URL)
	})
	mux.HandleFunc("GET /guide/travel", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><head><title>Travel</title></head><body><h1>Travel</h1><p>Train travel is preferred for trips under four hours; flights need approval.</p></body></html>")
	})
	mux.HandleFunc("GET /guide/flaky", func(w http.ResponseWriter, r *http.Request) {
		switch flaky.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			fallthrough
		case 2:
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><body><h1>Expenses</h1><p>Expense reports are filed within thirty days with every receipt attached.</p></body></html>")
	})
	site = httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site, &flaky
}

func TestKBCommands(t *testing.T) {
	fastKB(t)
	url, _ := serveForCLI(t)
	kb := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append(append([]string{"kb"}, args...), "--url", url, "--key", cliAdminKey)...)
	}
	dir := t.TempDir()
	docs := map[string]string{
		"oncall.md":        "# On call\n\nThe on-call engineer answers pages within five minutes and writes the incident timeline.\n",
		"sub/holidays.md":  "# Holidays\n\nEvery employee has twenty-five days of paid holiday a year, booked in the calendar.\n",
		"sub/security.md":  "# Security\n\nLaptops lock after five minutes idle and disks are encrypted.\n",
		"empty.txt":        "",
		".hidden.md":       "# Hidden\n\nNever read.\n",
		".git/config.md":   "# Git\n",
		"sub/image.bin":    "\x00\x01",
		"sub/.drafts/x.md": "# Draft\n",
	}
	for name, body := range docs {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	site, flaky := kbSite(t)

	// The empty file and the missing page fail alone; the flaky page is
	// retried; the rest is indexed.
	code, out, errOut := kb("ingest", dir, site.URL+"/sitemap.xml", "--store", "handbook", "--attr", "team=ops", "--parallel", "3")
	if code != 1 || !strings.Contains(errOut, "2 of 7 sources failed") {
		t.Fatalf("ingest: exit %d\n%s\n%s", code, out, errOut)
	}
	rows := summaryRows(out)
	for src, want := range map[string]string{
		filepath.Join(dir, "oncall.md"): "completed", filepath.Join(dir, "sub/holidays.md"): "completed",
		filepath.Join(dir, "sub/security.md"): "completed", filepath.Join(dir, "empty.txt"): "failed",
		site.URL + "/guide/travel": "completed", site.URL + "/guide/flaky": "completed", site.URL + "/guide/missing": "failed",
	} {
		if got := rows[src]; !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %s", src, got, want)
		}
	}
	if len(rows) != 7 {
		t.Errorf("summary has %d sources, want 7 (no dotfiles, no .bin):\n%s", len(rows), out)
	}
	if !strings.Contains(rows[filepath.Join(dir, "empty.txt")], "invalid_file") || !strings.Contains(rows[site.URL+"/guide/missing"], "404") {
		t.Errorf("failures lack their reasons:\n%s", out)
	}
	if n := flaky.Load(); n != 3 {
		t.Errorf("flaky page fetched %d times, want 3", n)
	}
	if !strings.Contains(errOut, "uploading") || !strings.Contains(errOut, "indexing") {
		t.Errorf("no progress lines on stderr: %q", errOut)
	}

	c := kbClient{&adminClient{url: url, key: cliAdminKey, hc: http.DefaultClient}}
	ctx := context.Background()
	store, err := c.mustStore(ctx, "handbook")
	if err != nil {
		t.Fatal(err)
	}
	files := bySource(t, c, store.ID)
	if len(files) != 6 {
		t.Fatalf("store has files of %d sources, want 6: %v", len(files), files)
	}
	oncall := files[filepath.Join(dir, "oncall.md")]
	if len(oncall) != 1 || oncall[0].Attributes["team"] != "ops" {
		t.Fatalf("oncall.md: %+v", oncall)
	}
	holidays := files[filepath.Join(dir, "sub/holidays.md")][0].ID

	code, out, _ = kb("status")
	if code != 0 || !hasLine(out, "handbook", store.ID, "completed", "6", "5", "0", "1") {
		t.Errorf("status: %d\n%s", code, out)
	}
	code, out, _ = kb("status", "--store", "handbook")
	if code != 0 || !strings.Contains(out, "6 files, 5 completed") || !strings.Contains(out, "empty.txt") ||
		!strings.Contains(out, "invalid_file") || !strings.Contains(out, "oncall.md") {
		t.Errorf("status --store: %d\n%s", code, out)
	}

	// Again, unchanged (the empty file gone): nothing is uploaded.
	os.Remove(filepath.Join(dir, "empty.txt"))
	code, out, errOut = kb("ingest", dir, site.URL+"/guide/travel", "--store", "handbook")
	if code != 0 || countStatus(out, "unchanged") != 4 {
		t.Fatalf("re-ingest unchanged: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := countFiles(t, c, store.ID); n != 6 {
		t.Errorf("store has %d files after an unchanged ingest, want 6", n)
	}

	// One file changed: it is replaced, the others are left alone.
	changed := "# Holidays\n\nEvery employee has thirty days of paid holiday a year, plus a sabbatical month after five years.\n"
	os.WriteFile(filepath.Join(dir, "sub/holidays.md"), []byte(changed), 0o600)
	code, out, errOut = kb("ingest", dir, "--store", "handbook")
	if code != 0 || !strings.HasPrefix(summaryRows(out)[filepath.Join(dir, "sub/holidays.md")], "replaced") || countStatus(out, "unchanged") != 2 {
		t.Fatalf("re-ingest changed: exit %d\n%s\n%s", code, out, errOut)
	}
	hol := bySource(t, c, store.ID)[filepath.Join(dir, "sub/holidays.md")]
	if len(hol) != 1 || hol[0].ID == holidays || hol[0].Status != "completed" {
		t.Fatalf("holidays.md after the change: %+v (old %s)", hol, holidays)
	}
	if b, err := c.send(ctx, "GET", "/v1/files/"+hol[0].ID+"/content", "", nil); err != nil || string(b) != changed {
		t.Errorf("new content: %q %v", b, err)
	}
	if _, err := c.send(ctx, "GET", "/v1/files/"+holidays, "", nil); err == nil {
		t.Errorf("old file %s was not deleted", holidays)
	}

	// The same content chunked differently is ingested anew.
	oncallPath := filepath.Join(dir, "oncall.md")
	code, out, errOut = kb("ingest", oncallPath, "--store", "handbook", "--chunk-size", "200", "--chunk-overlap", "50")
	if code != 0 || !strings.HasPrefix(summaryRows(out)[oncallPath], "replaced") {
		t.Fatalf("re-ingest with new chunking: exit %d\n%s\n%s", code, out, errOut)
	}
	if f := bySource(t, c, store.ID)[oncallPath]; len(f) != 1 || f[0].Chunking.Static == nil || f[0].Chunking.Static.MaxChunkSizeTokens != 200 {
		t.Errorf("oncall.md after rechunking: %+v", f)
	}
	if code, _, errOut := kb("ingest", oncallPath, "--store", "handbook", "--chunk-size", "50"); code != 2 || !strings.Contains(errOut, "max_chunk_size_tokens") {
		t.Errorf("bad chunk size: exit %d %q", code, errOut)
	}

	code, out, errOut = kb("search", "--store", "handbook", "sabbatical month holiday", "-n", "3")
	if code != 0 || !strings.Contains(out, "holidays.md") || !strings.Contains(out, "sabbatical") {
		t.Errorf("search: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = kb("search", "--store", "handbook", "--json", "--filter", `{"type":"eq","key":"source","value":"`+site.URL+`/guide/travel"}`, "train")
	var page struct {
		Data []struct {
			Filename string `json:"filename"`
		} `json:"data"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Data) == 0 || page.Data[0].Filename != "travel.html" {
		t.Errorf("search --json --filter: %d %s", code, out)
	}
	if code, _, errOut := kb("search", "--store", "nowhere", "x"); code != 1 || !strings.Contains(errOut, "no vector store") {
		t.Errorf("search of a missing store: %d %q", code, errOut)
	}
	if code, _, _ := kb("ingest", dir); code != 2 {
		t.Errorf("ingest without --store: exit %d, want 2", code)
	}

	// Export and import: a copy that searches alike.
	exported := filepath.Join(t.TempDir(), "handbook.jsonl")
	if code, out, errOut := kb("export", "--store", "handbook", "--out", exported); code != 0 || !strings.Contains(out, "exported handbook") {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := kb("import", exported, "--name", "handbook-copy"); code != 0 || !strings.Contains(out, "handbook-copy") || !strings.Contains(out, ": 5 files") {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	if code, out, _ := kb("search", "--store", "handbook-copy", "who answers pages"); code != 0 || !strings.Contains(out, "oncall.md") {
		t.Errorf("search of the imported copy: %d\n%s", code, out)
	}
	if code, _, _ := kb("export", "--store", "handbook"); code != 2 {
		t.Errorf("export without --out: exit %d, want 2", code)
	}
}

// A sitemap index is read one level deep; a sitemap it lists that cannot
// be read fails alone.
func TestKBSitemapIndex(t *testing.T) {
	fastKB(t)
	mux := http.NewServeMux()
	var site *httptest.Server
	mux.HandleFunc("GET /index", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<sitemapindex><sitemap><loc>%[1]s/a.xml</loc></sitemap><sitemap><loc>/gone.xml</loc></sitemap></sitemapindex>`, site.URL)
	})
	mux.HandleFunc("GET /a.xml", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<urlset><url><loc>/p1</loc></url><url><loc>ftp://x/y</loc></url></urlset>`)
	})
	site = httptest.NewServer(mux)
	defer site.Close()
	got := expand(context.Background(), site.Client(), []string{site.URL + "/index"}, 2, 1)
	var lines []string
	for _, s := range got {
		lines = append(lines, fmt.Sprintf("%s err=%v", strings.TrimPrefix(s.name, site.URL), s.err != nil))
	}
	want := "/p1 err=false|ftp://x/y err=true|/gone.xml err=true"
	if strings.Join(lines, "|") != want {
		t.Errorf("got %s\nwant %s", strings.Join(lines, "|"), want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"7", 7 * time.Second, true}, {"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
	} {
		if d, ok := parseRetryAfter(c.in, now); d != c.want || ok != c.ok {
			t.Errorf("%q: %v %v", c.in, d, ok)
		}
	}
}

// Retries wait what Retry-After asks, else a doubling backoff with
// jitter; a 404 is not retried, and the last error is returned when the
// retries run out.
func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		calls := 0
		start := time.Now()
		err := retry(ctx, 3, func() error {
			calls++
			switch calls {
			case 1:
				return &statusError{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second, HasRetryAfter: true}
			case 2:
				return &statusError{Status: http.StatusBadGateway}
			}
			return nil
		})
		// 30s asked for, then the second backoff: from kbBackoff to twice it.
		if d := time.Since(start); err != nil || calls != 3 || d < 30*time.Second+kbBackoff || d > 30*time.Second+2*kbBackoff {
			t.Errorf("retry: %v after %d calls and %v", err, calls, d)
		}
		calls = 0
		err = retry(ctx, 3, func() error { calls++; return &statusError{Status: http.StatusNotFound} })
		if calls != 1 || err == nil {
			t.Errorf("404: %d calls, %v", calls, err)
		}
		calls = 0
		err = retry(ctx, 2, func() error { calls++; return &statusError{Status: http.StatusServiceUnavailable} })
		if calls != 3 || err == nil {
			t.Errorf("503 until the retries run out: %d calls, %v", calls, err)
		}
	})
}

func FuzzParseSitemap(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><urlset><url><loc>https://a/b</loc></url></urlset>`))
	f.Add([]byte(`<sitemapindex><sitemap><loc>/s.xml</loc></sitemap></sitemapindex>`))
	f.Add([]byte(`<!DOCTYPE html><html><body>hi</body></html>`))
	f.Add([]byte("\xef\xbb\xbf <urlset><url><loc>x</loc>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, sm := parseSitemap(b)
		if kind != "" && kind != "urlset" && kind != "sitemapindex" {
			t.Fatalf("kind %q", kind)
		}
		for _, s := range sm.locs("https://example.com/sitemap.xml") {
			if s.err == nil && !isURL(s.name) {
				t.Fatalf("page %q is not an http(s) URL", s.name)
			}
		}
	})
}

// summaryRows reads the summary table: source → the rest of its row.
func summaryRows(out string) map[string]string {
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] != "SOURCE" && (strings.HasPrefix(f[0], "/") || strings.HasPrefix(f[0], "http")) {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return rows
}

// countStatus counts the sources of a summary with the status.
func countStatus(out, status string) int {
	n := 0
	for _, row := range summaryRows(out) {
		if strings.HasPrefix(row, status+" ") {
			n++
		}
	}
	return n
}

func bySource(t *testing.T, c kbClient, storeID string) map[string][]kbStoreFile {
	t.Helper()
	files, err := c.storeFiles(context.Background(), storeID)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]kbStoreFile{}
	for _, f := range files {
		m[f.source()] = append(m[f.source()], f)
	}
	return m
}

func countFiles(t *testing.T, c kbClient, storeID string) int {
	t.Helper()
	files, err := c.storeFiles(context.Background(), storeID)
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// hasLine says whether a line of out holds the fields, in order.
func hasLine(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
