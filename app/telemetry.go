package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
)

// observability is what the telemetry config builds: the metrics every
// request is recorded in, the tracer, the drift detector and the writer
// of its baselines into the store (nil when drift is disabled) and the
// request log's writer into the store (nil when disabled). It is built
// once at start; a reload that changes telemetry settings takes effect at
// the next start.
type observability struct {
	metrics   *telemetry.Metrics
	tracing   *telemetry.Tracing
	drift     *drift.Detector
	baselines *baselineSaver
	reqlog    *reqlog.Writer
}

// buildTelemetry builds the app's observability from cfg. Aliases the
// routing table does not know (a client may send anything as "model") are
// labelled "other" in metrics and not tracked for drift.
func (a *App) buildTelemetry(ctx context.Context, cfg *config.Config) error {
	known := func(alias string) bool {
		_, ok := a.gw.Routes().Lookup(alias)
		return ok
	}
	tc := cfg.Telemetry
	o := &observability{metrics: telemetry.NewMetrics(telemetry.MetricsOptions{
		KnownAlias:  known,
		TenantLabel: !tc.Metrics.DisableTenantLabel,
		MaxTenants:  tc.Metrics.TenantCap(),
	})}
	o.metrics.OnScrape(a.refreshTargetMetrics)
	tracing, err := a.tracingWanted(tc.Tracing)
	if err != nil {
		return fmt.Errorf("start tracing: %w", err)
	}
	if tracing {
		// What the config leaves empty, NewTracing takes from the standard
		// OpenTelemetry environment variables.
		t, err := telemetry.NewTracing(ctx, telemetry.TracingOptions{
			Exporter:       tc.Tracing.Exporter,
			Endpoint:       tc.Tracing.Endpoint,
			Insecure:       tc.Tracing.Insecure,
			Headers:        tc.Tracing.Headers,
			SampleRatio:    tc.Tracing.SampleRatio,
			ServiceName:    tc.Tracing.ServiceName,
			CaptureContent: tc.Tracing.CaptureContent,
		})
		if err != nil {
			return fmt.Errorf("start tracing: %w", err)
		}
		o.tracing = t
	} else {
		o.tracing = telemetry.DisabledTracing()
	}
	if !tc.Drift.Disabled {
		opts := drift.Options{Window: tc.Drift.WindowOrDefault(), KnownAlias: known}
		o.baselines = &baselineSaver{store: a.db, log: a.log}
		opts.OnBaseline = o.baselines.save
		o.drift = drift.New(opts)
		if err := o.metrics.Registry().Register(o.drift); err != nil {
			return fmt.Errorf("register drift metrics: %w", err)
		}
	}
	if rl := tc.RequestLog; rl.Enabled { // last: nothing fails after it starts
		opts := reqlog.WriterOptions{
			Retention:       rl.RetentionOrDefault(),
			MaxContentBytes: rl.ContentLimit(),
			Logger:          a.log,
		}
		if rl.CaptureContent {
			// A queued record holds up to twice the content limit (and the
			// margin) of text: a shorter queue bounds that memory.
			opts.Buffer = 1024
		}
		w := reqlog.NewWriter(a.db, opts)
		if err := o.metrics.Registry().Register(requestLogMetrics{w}); err != nil {
			return fmt.Errorf("register request log metrics: %w", err)
		}
		w.Start()
		o.reqlog = w
	}
	a.obs = o
	return nil
}

// tracingWanted reports whether to trace: telemetry.tracing.enabled says
// so, whatever the environment says, or else the standard OpenTelemetry
// environment asks for it (OTEL_TRACES_EXPORTER=otlp, OTEL_SDK_DISABLED
// not true).
func (a *App) tracingWanted(tc config.Tracing) (bool, error) {
	if tc.Enabled {
		if telemetry.SDKDisabled() {
			a.log.Warn("OTEL_SDK_DISABLED=true is ignored: telemetry.tracing.enabled is true in the configuration")
		}
		return true, nil
	}
	on, err := telemetry.TracingRequested()
	if on {
		a.log.Info("tracing enabled by OTEL_TRACES_EXPORTER")
	}
	return on, err
}

// attachRequestLog has the gateway record every request in the request
// log, with its content when capture_content is on.
func (a *App) attachRequestLog(cfg *config.Config) {
	if a.obs.reqlog == nil {
		return
	}
	capture := 0
	if rl := cfg.Telemetry.RequestLog; rl.CaptureContent {
		capture = rl.ContentLimit()
	}
	a.gw.SetRequestLog(a.obs.reqlog, capture)
}

// requestLogStore is the store the admin API reads the request log from;
// nil when the request log is disabled.
func (a *App) requestLogStore() reqlog.Store {
	if a.obs == nil || a.obs.reqlog == nil {
		return nil
	}
	return a.db
}

// requestLogMetrics exports the request log writer's losses as
// bulwark_request_log_dropped_total{reason}: queue_full (the request path
// never waits for the store) or store_error (the store refused a batch).
type requestLogMetrics struct{ w *reqlog.Writer }

var requestLogDropped = prometheus.NewDesc("bulwark_request_log_dropped_total",
	"Request log records lost, by reason: queue_full or store_error.", []string{"reason"}, nil)

func (m requestLogMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- requestLogDropped }

func (m requestLogMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.w.Stats()
	ch <- prometheus.MustNewConstMetric(requestLogDropped, prometheus.CounterValue, float64(st.Dropped), "queue_full")
	ch <- prometheus.MustNewConstMetric(requestLogDropped, prometheus.CounterValue, float64(st.Failed), "store_error")
}

// loadDriftBaselines loads the stored drift baselines into the detector,
// so that traffic after a restart, or after a deploy that changed a
// model, is compared with them rather than becoming the new baseline. It
// runs once at start, after the gateway's routing table is in place:
// baselines of aliases no longer served are left in the store. A failure
// is logged and serving goes on; an alias without a baseline takes its
// first full window, as on a first start. Replicas sharing a store each
// keep the baseline they loaded or took; the store holds the last one
// saved, and every replica loads it at its next start.
func (a *App) loadDriftBaselines(ctx context.Context) {
	d, s := a.obs.drift, a.obs.baselines
	if d == nil || s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stored, err := s.store.LoadBaselines(ctx)
	if err != nil {
		a.log.Warn("loading drift baselines failed; each model's first full window becomes its baseline", "error", err.Error())
		return
	}
	for alias, b := range stored {
		if _, ok := a.gw.Routes().Lookup(alias); !ok {
			continue
		}
		if err := d.SetBaseline(alias, b); err != nil {
			a.log.Warn("stored drift baseline not loaded; the model's first full window becomes its baseline",
				"alias", alias, "error", err.Error())
		}
	}
}

// baselineSaver writes the baselines the drift detector takes into the
// store, off the request path: save (the detector's OnBaseline) only
// records the newest baseline of the alias and makes sure a goroutine is
// writing. One goroutine at a time writes, so the newest of an alias is
// written last. close waits for the writes; it runs before the store
// closes. It is safe for concurrent use.
type baselineSaver struct {
	store drift.BaselineStore
	log   *slog.Logger

	mu      sync.Mutex
	pending map[string]drift.Snapshot // by alias, not yet being written
	writing bool                      // a goroutine of wg is writing pending
	closed  bool
	wg      sync.WaitGroup
}

// saveTimeout bounds one baseline write.
const saveTimeout = 10 * time.Second

func (s *baselineSaver) save(alias string, b drift.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Warn("drift baseline taken during shutdown; not saved", "alias", alias)
		return
	}
	if s.pending == nil {
		s.pending = map[string]drift.Snapshot{}
	}
	s.pending[alias] = b
	if !s.writing {
		s.writing = true
		s.wg.Go(s.write)
	}
}

// write writes the pending baselines until there are none.
func (s *baselineSaver) write() {
	for {
		s.mu.Lock()
		var alias string
		var b drift.Snapshot
		found := false
		for alias, b = range s.pending {
			found = true
			break
		}
		if !found {
			s.writing = false
			s.mu.Unlock()
			return
		}
		delete(s.pending, alias)
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
		err := s.store.SaveBaseline(ctx, alias, b)
		cancel()
		if err != nil {
			s.log.Warn("saving drift baseline failed; it holds until the next start", "alias", alias, "error", err.Error())
			continue
		}
		s.log.Info("drift baseline saved", "alias", alias, "samples", b.Samples(), "start", b.Start)
	}
}

// close waits for the baselines being written; later ones are not saved.
func (s *baselineSaver) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// Metrics returns the app's metrics, for the request path to record in.
func (a *App) Metrics() *telemetry.Metrics { return a.obs.metrics }

// Tracing returns the app's tracing.
func (a *App) Tracing() *telemetry.Tracing { return a.obs.tracing }

// Drift returns the app's drift detector, nil when drift is disabled.
func (a *App) Drift() *drift.Detector { return a.obs.drift }

// serveMetrics serves GET /metrics on telemetry.metrics.listen, when it
// is set, and the profiles under /debug/pprof/ when telemetry.metrics.pprof
// is on, until the returned stop is called; stop waits for the server to
// end.
func (a *App) serveMetrics(cfg *config.Config) (stop func(), err error) {
	addr := cfg.Telemetry.Metrics.Listen
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.obs.metrics.Handler())
	if cfg.Telemetry.Metrics.Pprof {
		handleProfiles(mux)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics listener failed", "listen", addr, "error", err.Error())
		}
	}()
	a.log.Info("serving metrics", "listen", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

// handleProfiles serves net/http/pprof's profiles under /debug/pprof/ on
// mux, which is the metrics listener's only: profiles reveal the command
// line and the program's internals, and a CPU profile or trace costs CPU,
// so they are never on the API's listener. (Importing net/http/pprof also
// registers them on http.DefaultServeMux, which no Bulwark server serves.)
func handleProfiles(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // and every named profile: heap, goroutine, …
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// closeTelemetry saves the drift baselines being written and flushes the
// request log records and the spans not yet written. It runs before the
// store closes.
func (a *App) closeTelemetry() {
	if a.obs == nil {
		return
	}
	if s := a.obs.baselines; s != nil {
		s.close()
	}
	if w := a.obs.reqlog; w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = w.Close(ctx)
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.obs.tracing.Close(ctx); err != nil {
		a.log.Warn("flushing traces failed", "error", err.Error())
	}
}

// driftRoutes are the admin API's view of drift: every alias's report, one
// alias's report, and taking an alias's current window as its new
// baseline (after a deliberate change, such as a new model version).
func (a *App) driftRoutes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"GET /admin/v1/drift": func(w http.ResponseWriter, r *http.Request, _ tenant.Principal) {
			d := a.obs.drift
			if d == nil {
				writeDriftDisabled(w)
				return
			}
			out := []drift.Report{}
			for _, alias := range d.Aliases() {
				if rep, ok := d.Report(alias); ok {
					out = append(out, rep)
				}
			}
			api.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
		},
		"GET /admin/v1/drift/{alias}": func(w http.ResponseWriter, r *http.Request, _ tenant.Principal) {
			a.writeDriftReport(w, r.PathValue("alias"))
		},
		"POST /admin/v1/drift/{alias}/rebaseline": func(w http.ResponseWriter, r *http.Request, _ tenant.Principal) {
			if a.obs.drift != nil {
				a.obs.drift.Rebaseline(r.PathValue("alias"))
			}
			a.writeDriftReport(w, r.PathValue("alias"))
		},
	}
}

func (a *App) writeDriftReport(w http.ResponseWriter, alias string) {
	d := a.obs.drift
	if d == nil {
		writeDriftDisabled(w)
		return
	}
	rep, ok := d.Report(alias)
	if !ok {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.TypeNotFound, "not_found",
			"no drift data for the model %q: it has served no request since the start", alias))
		return
	}
	api.WriteJSON(w, http.StatusOK, rep)
}

func writeDriftDisabled(w http.ResponseWriter) {
	api.WriteError(w, api.Errorf(http.StatusNotFound, api.TypeNotFound, "drift_disabled",
		"drift detection is disabled (telemetry.drift.disabled)"))
}

// refreshTargetMetrics mirrors every target's breaker state and
// outstanding calls into the metrics; it runs before each scrape.
func (a *App) refreshTargetMetrics() {
	states := a.gw.Routes().States()
	samples := make([]telemetry.TargetSample, 0, len(states))
	for _, s := range states {
		provider, model, _ := strings.Cut(s.Target, "/") // provider names hold no "/"
		samples = append(samples, telemetry.TargetSample{
			Provider: provider,
			Model:    model,
			Breaker:  telemetry.ParseBreakerState(s.Breaker.State),
			Inflight: s.Outstanding,
		})
	}
	a.obs.metrics.SetTargets(samples)
}
