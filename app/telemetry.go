package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
// request is recorded in, the tracer, the drift detector (nil when
// disabled) and the request log's writer into the store (nil when
// disabled). It is built once at start; a reload that changes
// telemetry settings takes effect at the next start.
type observability struct {
	metrics *telemetry.Metrics
	tracing *telemetry.Tracing
	drift   *drift.Detector
	reqlog  *reqlog.Writer
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
	if tc.Tracing.Enabled {
		t, err := telemetry.NewTracing(ctx, telemetry.TracingOptions{
			Exporter:       tc.Tracing.Exporter,
			Endpoint:       tc.Tracing.Endpoint,
			Insecure:       tc.Tracing.Insecure,
			Headers:        tc.Tracing.Headers,
			SampleRatio:    tc.Tracing.Ratio(),
			ServiceName:    tc.Tracing.Service(),
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
		o.drift = drift.New(drift.Options{Window: tc.Drift.WindowOrDefault(), KnownAlias: known})
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

// Metrics returns the app's metrics, for the request path to record in.
func (a *App) Metrics() *telemetry.Metrics { return a.obs.metrics }

// Tracing returns the app's tracing.
func (a *App) Tracing() *telemetry.Tracing { return a.obs.tracing }

// Drift returns the app's drift detector, nil when drift is disabled.
func (a *App) Drift() *drift.Detector { return a.obs.drift }

// serveMetrics serves GET /metrics alone on telemetry.metrics.listen, when
// it is set, until the returned stop is called; stop waits for the server
// to end.
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

// closeTelemetry flushes the request log records and the spans not yet
// written. It runs before the store closes.
func (a *App) closeTelemetry() {
	if a.obs == nil {
		return
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
