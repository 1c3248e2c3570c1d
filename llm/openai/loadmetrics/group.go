package loadmetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// StaleAfter is how many scrape intervals a report stays fresh.
const StaleAfter = 3

// DefaultInterval is the scrape interval of a Target that sets none.
const DefaultInterval = 5 * time.Second

// Target is one provider to scrape.
type Target struct {
	// Provider is the provider's config name.
	Provider string
	// URL is the metrics page.
	URL string
	// Interval is the time between two scrapes (DefaultInterval when not
	// positive); Timeout bounds one (no bound but Close when not positive).
	Interval time.Duration
	Timeout  time.Duration
}

// Options configure a Group. The zero value is valid.
type Options struct {
	// Client sends the scrapes; nil means a client of the Group's own.
	Client *http.Client
	// Logger reports a provider's scrapes starting to fail and recovering,
	// once each (nil: slog.Default()).
	Logger *slog.Logger
}

// Group scrapes a set of providers, one goroutine each, and answers Load
// from their last fresh reports. It is safe for concurrent use.
type Group struct {
	client *http.Client
	own    bool // client is the Group's: its idle connections close with it
	log    *slog.Logger

	mu       sync.Mutex // serialises Configure and Close
	closed   bool
	scrapers atomic.Pointer[map[string]*scraper] // immutable once stored
}

// NewGroup returns a Group scraping nothing; Configure gives it targets.
func NewGroup(o Options) *Group {
	g := &Group{client: o.Client, log: o.Logger}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.client == nil {
		g.client, g.own = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, true
	}
	empty := map[string]*scraper{}
	g.scrapers.Store(&empty)
	return g
}

// Configure makes g scrape exactly targets (one per provider; a later
// duplicate is ignored). A provider whose target is unchanged keeps its
// scraper and its last report; the scrapers of providers no longer listed
// or changed are stopped and waited for; new ones start at once, with a
// first scrape right away. After Close, Configure does nothing.
func (g *Group) Configure(targets []Target) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	old := *g.scrapers.Load()
	next := make(map[string]*scraper, len(targets))
	for _, t := range targets {
		if t.Interval <= 0 {
			t.Interval = DefaultInterval
		}
		if _, dup := next[t.Provider]; dup {
			continue
		}
		if s, ok := old[t.Provider]; ok && s.target == t {
			next[t.Provider] = s
			continue
		}
		next[t.Provider] = g.start(t)
	}
	g.scrapers.Store(&next)
	for name, s := range old {
		if next[name] != s {
			s.stop()
		}
	}
}

// Close stops every scraper and waits for them. Load then reports
// nothing.
func (g *Group) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	old := *g.scrapers.Load()
	empty := map[string]*scraper{}
	g.scrapers.Store(&empty)
	for _, s := range old {
		s.stop()
	}
	if g.own {
		g.client.CloseIdleConnections()
	}
}

// Load returns the fresh report of provider's server for model (see
// Page.For); ok is false when the provider is not scraped, its last
// successful scrape is older than StaleAfter intervals, or its page says
// nothing of model. It does not block on a scrape.
func (g *Group) Load(provider, model string) (Report, bool) {
	s, ok := (*g.scrapers.Load())[provider]
	if !ok {
		return Report{}, false
	}
	p := s.fresh(time.Now())
	if p == nil {
		return Report{}, false
	}
	return p.page.For(model)
}

// ScrapeNow scrapes every provider at once and waits for the scrapes,
// alongside the background ones; it returns the first error. Tests and
// tools use it to act on a known report without waiting an interval.
func (g *Group) ScrapeNow(ctx context.Context) error {
	var errs []error
	for _, s := range *g.scrapers.Load() {
		errs = append(errs, s.scrape(ctx))
	}
	return errors.Join(errs...)
}

// Status is what a Group knows of one provider's scrapes.
type Status struct {
	Provider string
	// Fresh says whether the last report may be used.
	Fresh bool
	// LastSuccess is when the last scrape succeeded (zero: never);
	// LastError the error of the last scrape, empty when it succeeded.
	LastSuccess time.Time
	LastError   string
}

// Statuses returns the state of every scraped provider, in no order.
func (g *Group) Statuses() []Status {
	now := time.Now()
	m := *g.scrapers.Load()
	out := make([]Status, 0, len(m))
	for name, s := range m {
		st := Status{Provider: name, Fresh: s.fresh(now) != nil}
		if r := s.last.Load(); r != nil {
			st.LastSuccess = r.at
		}
		if e := s.lastErr.Load(); e != nil {
			st.LastError = *e
		}
		out = append(out, st)
	}
	return out
}

// scraper scrapes one provider until stopped.
type scraper struct {
	g       *Group
	target  Target
	cancel  context.CancelFunc
	done    chan struct{}
	last    atomic.Pointer[result] // the last successful scrape
	lastErr atomic.Pointer[string] // nil after a success
}

type result struct {
	at   time.Time
	page Page
}

func (g *Group) start(t Target) *scraper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scraper{g: g, target: t, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// stop ends the scraper's goroutine and waits for it.
func (s *scraper) stop() {
	s.cancel()
	<-s.done
}

func (s *scraper) run(ctx context.Context) {
	defer close(s.done)
	every := s.target.Interval
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = s.scrape(ctx)
		t.Reset(every)
	}
}

// fresh returns the last report when it is fresh at now, else nil.
func (s *scraper) fresh(now time.Time) *result {
	r := s.last.Load()
	if r == nil || now.Sub(r.at) > StaleAfter*s.target.Interval {
		return nil
	}
	return r
}

// scrape fetches and parses the page once, keeping the report on success.
func (s *scraper) scrape(ctx context.Context) error {
	page, err := s.fetch(ctx)
	if err != nil {
		msg := err.Error()
		if prev := s.lastErr.Swap(&msg); prev == nil && ctx.Err() == nil {
			s.g.log.Warn("load metrics scrape failing; least_loaded routing falls back to least outstanding once the last report is stale",
				"provider", s.target.Provider, "error", msg)
		}
		return err
	}
	s.last.Store(&result{at: time.Now(), page: page})
	if prev := s.lastErr.Swap(nil); prev != nil {
		s.g.log.Info("load metrics scrape recovered", "provider", s.target.Provider)
	}
	return nil
}

func (s *scraper) fetch(ctx context.Context) (Page, error) {
	if s.target.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.target.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.target.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.target.Provider, err)
	}
	// The text format: OpenMetrics is not what Parse reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	resp, err := s.g.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.target.Provider, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("scrape %s: status %d", s.target.Provider, resp.StatusCode)
	}
	page, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.target.Provider, err)
	}
	return page, nil
}
