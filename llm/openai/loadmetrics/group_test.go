package loadmetrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeServers answers scrapes in process, by host: a page, or an error
// status when the page is empty. It counts the scrapes per host.
type fakeServers struct {
	mu    sync.Mutex
	pages map[string]string
	hits  map[string]int
}

func (f *fakeServers) set(host, page string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages[host] = page
}

func (f *fakeServers) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[host]
}

func (f *fakeServers) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[r.URL.Host]++
	page, ok := f.pages[r.URL.Host]
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Request: r, Body: io.NopCloser(strings.NewReader(page))}
	if !ok || page == "" {
		resp.StatusCode = http.StatusServiceUnavailable
	}
	return resp, nil
}

func newFake() *fakeServers { return &fakeServers{pages: map[string]string{}, hits: map[string]int{}} }

func running(n string) string {
	return "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\",engine=\"0\"} " + n + "\n"
}

func target(provider string) Target {
	return Target{Provider: provider, URL: "http://" + provider + "/metrics", Interval: 5 * time.Second, Timeout: time.Second}
}

// A report is used while fresh; failed scrapes keep it until three
// intervals passed since the last success, then Load reports nothing.
func TestGroupScrapesAndReportsGoStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("a", running("4"))
		g := NewGroup(Options{Client: &http.Client{Transport: f}})
		defer g.Close()
		g.Configure([]Target{target("a")})
		synctest.Wait() // the first scrape is at once
		if r, ok := g.Load("a", "m"); !ok || r.Running != 4 {
			t.Fatalf("Load after the first scrape = %+v, %v", r, ok)
		}
		f.set("a", running("9"))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if r, ok := g.Load("a", "m"); !ok || r.Running != 9 {
			t.Fatalf("Load after the second scrape = %+v, %v", r, ok)
		}
		f.set("a", "") // the server fails from now on
		time.Sleep(14 * time.Second)
		synctest.Wait()
		if r, ok := g.Load("a", "m"); !ok || r.Running != 9 {
			t.Fatalf("Load within three intervals of the last success = %+v, %v; want the last report", r, ok)
		}
		if st := g.Statuses(); len(st) != 1 || !st[0].Fresh || !strings.Contains(st[0].LastError, "status 503") {
			t.Errorf("statuses %+v", st)
		}
		time.Sleep(2 * time.Second) // 16s since the last success
		synctest.Wait()
		if r, ok := g.Load("a", "m"); ok {
			t.Fatalf("Load of a stale report = %+v", r)
		}
		f.set("a", running("1")) // back: fresh again at the next scrape
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if r, ok := g.Load("a", "m"); !ok || r.Running != 1 {
			t.Fatalf("Load after recovery = %+v, %v", r, ok)
		}
		if _, ok := g.Load("b", "m"); ok {
			t.Error("Load of a provider not scraped reported")
		}
	})
}

// Reconfiguring keeps unchanged scrapers with their reports, stops the
// dropped ones (no scrape after) and starts new ones; Close stops all.
func TestGroupConfigureAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("a", running("1"))
		f.set("b", running("2"))
		f.set("c", running("3"))
		g := NewGroup(Options{Client: &http.Client{Transport: f}})
		g.Configure([]Target{target("a"), target("b")})
		synctest.Wait()
		if f.count("a") != 1 || f.count("b") != 1 {
			t.Fatalf("first scrapes: a %d, b %d", f.count("a"), f.count("b"))
		}
		slower := target("b")
		slower.Interval = 10 * time.Second
		g.Configure([]Target{target("a"), slower, target("c")})
		synctest.Wait()
		// a is kept (no new first scrape), b restarted with its new
		// interval (a first scrape), c started.
		if f.count("a") != 1 || f.count("b") != 2 || f.count("c") != 1 {
			t.Errorf("after reconfiguring: a %d, b %d, c %d", f.count("a"), f.count("b"), f.count("c"))
		}
		if r, ok := g.Load("a", "m"); !ok || r.Running != 1 {
			t.Errorf("kept scraper lost its report: %+v, %v", r, ok)
		}
		g.Configure([]Target{target("c")})
		if _, ok := g.Load("a", "m"); ok {
			t.Error("a dropped provider still reports")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if f.count("a") != 1 || f.count("b") != 2 {
			t.Errorf("dropped scrapers scraped again: a %d, b %d", f.count("a"), f.count("b"))
		}
		g.Close()
		n := f.count("c")
		time.Sleep(time.Minute)
		synctest.Wait()
		if f.count("c") != n {
			t.Error("a closed group scraped again")
		}
		if _, ok := g.Load("c", "m"); ok {
			t.Error("a closed group reports")
		}
		g.Configure([]Target{target("a")}) // after Close: nothing starts
		g.Close()
	})
}

// ScrapeNow scrapes at once and reports a failing server's error.
func TestGroupScrapeNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("a", running("1"))
		g := NewGroup(Options{Client: &http.Client{Transport: f}})
		defer g.Close()
		g.Configure([]Target{target("a"), target("down")})
		synctest.Wait()
		f.set("a", running("6"))
		err := g.ScrapeNow(context.Background())
		if err == nil || !strings.Contains(err.Error(), "scrape down: status 503") {
			t.Errorf("ScrapeNow error %v", err)
		}
		if r, ok := g.Load("a", "m"); !ok || r.Running != 6 {
			t.Errorf("Load after ScrapeNow = %+v, %v", r, ok)
		}
	})
}

// A provider's scrapes starting to fail are logged once, and so is their
// recovery, however many scrapes fail in between.
func TestGroupLogsFailingAndRecoveredScrapesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("a", running("1"))
		var buf strings.Builder
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return buf.Write(p)
		}), nil))
		g := NewGroup(Options{Client: &http.Client{Transport: f}, Logger: log})
		defer g.Close()
		g.Configure([]Target{target("a")})
		synctest.Wait()
		f.set("a", "")
		for range 3 {
			_ = g.ScrapeNow(context.Background())
		}
		f.set("a", running("2"))
		_ = g.ScrapeNow(context.Background())
		_ = g.ScrapeNow(context.Background())
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if n := strings.Count(out, "load metrics scrape failing"); n != 1 {
			t.Errorf("failing logged %d times; want once:\n%s", n, out)
		}
		if n := strings.Count(out, "load metrics scrape recovered"); n != 1 {
			t.Errorf("recovery logged %d times; want once:\n%s", n, out)
		}
		if !strings.Contains(out, "provider=a") {
			t.Errorf("log does not name the provider:\n%s", out)
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
