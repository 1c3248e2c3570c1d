package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/api/anthropic"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/traffic"
	"github.com/bulwark-ai/bulwark/usage"
)

// Options are what the command line gives the app. Empty fields fall back
// to the config file, then to the defaults.
type Options struct {
	// ConfigPath is the config file; empty means the built-in defaults.
	ConfigPath string
	Listen     string
	DataDir    string
	// AdminKey is BULWARK_ADMIN_KEY: the bootstrap admin key to accept.
	AdminKey string
	// Out receives what a person must see once (a generated admin key);
	// nil means os.Stdout.
	Out io.Writer
	// LogOutput receives the JSON log; nil means os.Stderr.
	LogOutput io.Writer
	Version   string // recorded in scheduled backups' manifests (backup.go)
}

// App is a running Bulwark. Its methods are safe for concurrent use.
type App struct {
	opts     Options
	log      *slog.Logger
	logLevel *slog.LevelVar
	db       store // tenants, keys and the usage ledger (governance.go)
	keys     *tenant.Keyring
	// keysSnapshot is where the key set is saved for a start while the
	// store is unreachable; "" when the store is local (keys.go).
	keysSnapshot string
	// Governance (governance.go): the usage writer, the limiter and the
	// background key refresh.
	usage        *usage.Writer
	fallback     *limit.Fallback // nil unless limits use Redis
	closeLimiter func()
	bg           *background
	budgets      *budgets // budget enforcement (governance.go)
	gw           *gateway.Gateway
	handler      http.Handler
	obs          *observability // metrics, tracing, drift (telemetry.go)
	probes       *prober        // probes of the store and Redis for /readyz (readyz.go)
	active       handlers       // the HTTP handlers running (shutdown.go)
	kb           *rag.Service   // the knowledge bases; nil when off (knowledge.go)
	closeCache   func()         // releases the response cache's Redis client; nil when none (cache.go)
	purge        *background    // purges expired stored responses (responses.go)
	backups      *backupJobs    // scheduled backups and replication; nil when off (backup.go)
	prompts      *prompts       // the prompt registry; nil when the store has none (prompts.go)
	batches      *batch.Service // the Batch API's jobs; nil when off (batches.go)

	responses *openai.Responses // the Responses API (responses.go)
	async     *asyncWork        // background responses, async chats, webhooks (async.go)

	// traffic is the admin console's live traffic (ui.go).
	traffic *traffic.Recorder

	mu    sync.Mutex // guards cfg and world during a reload
	cfg   *config.Config
	world *world
}

// New loads the configuration, opens the data directory, makes sure an
// admin key exists and builds the first world. It does not listen yet.
func New(ctx context.Context, o Options) (*App, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.LogOutput == nil {
		o.LogOutput = os.Stderr
	}
	cfg, err := loadConfig(o)
	if err != nil {
		return nil, err
	}
	a := &App{opts: o, cfg: cfg, logLevel: new(slog.LevelVar)}
	a.log = newLogger(o.LogOutput, cfg.Log, a.logLevel)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	a.db, err = openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := a.loadKeys(ctx, cfg); err != nil {
		a.closeGovernance()
		return nil, err
	}
	prices, err := newPrices(cfg)
	if err != nil {
		a.closeGovernance()
		return nil, err
	}
	limiter, fb, closeLimiter, err := newLimiter(cfg, a.log)
	if err != nil {
		a.closeGovernance()
		return nil, err
	}
	a.fallback, a.closeLimiter = fb, closeLimiter
	if a.usage, err = newUsageWriter(a.db, cfg, a.log); err != nil {
		a.closeGovernance()
		return nil, err
	}
	w, err := buildWorld(cfg, nil, a.log)
	if err != nil {
		a.closeGovernance()
		return nil, err
	}
	a.world = w
	// Telemetry first: the gateway records into it. (Its alias check reads
	// the gateway's routing table only when a request is recorded.)
	if err := a.buildTelemetry(ctx, cfg); err != nil {
		a.closeLoadMetrics()
		a.closeGovernance()
		return nil, err
	}
	a.gw = gateway.New(w.routes, gateway.Options{
		Metrics:  a.obs.metrics,
		Drift:    a.obs.drift,
		Status:   func(err error) int { return api.AsError(err).Status },
		Capacity: w.capacity,
	})
	a.obs.metrics.OnScrape(func() { refreshCapacityMetrics(a.obs.metrics, w.capacity) })
	a.obs.metrics.OnScrape(a.refreshUpstreamLoad)
	a.gw.SetLimiter(limiter)
	a.gw.SetUsage(a.watchTraffic(a.usage)) // the usage ledger, through the console's traffic (ui.go)
	a.gw.SetPrices(prices)
	if err := a.setCache(cfg); err != nil {
		_ = a.Close()
		return nil, err
	}
	a.attachRequestLog(cfg)
	a.loadDriftBaselines(ctx)
	if err := a.setBudgets(cfg); err != nil {
		_ = a.Close()
		return nil, err
	}
	if err := a.registerKeysMetrics(); err != nil {
		_ = a.Close()
		return nil, err
	}
	if err := a.startProbes(); err != nil {
		_ = a.Close()
		return nil, err
	}
	if err := a.startKnowledge(ctx, cfg); err != nil {
		_ = a.Close()
		return nil, err
	}
	a.startPrompts(ctx)
	a.handler = a.buildHandler(cfg)
	if err := a.startBatches(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	if err := a.startAsync(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	a.bg = startBackground(a.db, a.keys, a.log)
	a.purge = startResponsePurge(a.db, a.log)
	if a.backups, err = a.startBackups(ctx, cfg); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func loadConfig(o Options) (*config.Config, error) {
	var cfg *config.Config
	if o.ConfigPath == "" {
		cfg = config.Default()
	} else {
		var err error
		if cfg, err = config.Load(o.ConfigPath); err != nil {
			return nil, fmt.Errorf("config %s:\n%w", o.ConfigPath, err)
		}
	}
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}
	if o.DataDir != "" {
		cfg.DataDir = o.DataDir
	}
	return cfg, nil
}

func newLogger(out io.Writer, c config.Log, level *slog.LevelVar) *slog.Logger {
	setLevel(level, c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}

func setLevel(v *slog.LevelVar, s string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err == nil {
		v.Set(l)
	}
}

// buildHandler assembles the HTTP handler. Routes are fixed for the life
// of the process; what they serve (routes, providers) is swapped on reload.
func (a *App) buildHandler(cfg *config.Config) http.Handler {
	oai := openai.New(a.gw, cfg.Server.RequestTimeout.D(), a.log)
	oai.SetStreamWriteTimeout(cfg.Server.StreamWriteTimeout.D())
	adm := admin.New(a.db, a.keys, a.log)
	adm.SetModels(func(alias, tenantID string) bool {
		_, ok := a.gw.Routes().LookupFor(alias, tenantID)
		return ok
	})
	admRoutes := map[string]api.AuthedHandler{}
	for p, h := range adm.Routes() {
		admRoutes[p] = h
	}
	for p, h := range admin.NewFaults(a.faultInjector, a.log).Routes() {
		admRoutes[p] = h
	}
	for p, h := range admin.NewBreakers(func() any { return a.gw.Routes().States() }).Routes() {
		admRoutes[p] = h
	}
	for p, h := range admin.NewCapacity(func() any { return a.capacity().Snapshot() }).Routes() {
		admRoutes[p] = h
	}
	for p, h := range admin.NewUsage(a.db).Routes() {
		admRoutes[p] = h
	}
	for p, h := range admin.NewRequests(a.requestLogStore()).Routes() {
		admRoutes[p] = h
	}
	for p, h := range a.budgetRoutes(adm) {
		admRoutes[p] = h
	}
	for p, h := range a.driftRoutes() {
		admRoutes[p] = h
	}
	for p, h := range a.promptRoutes(oai, adm) {
		admRoutes[p] = h
	}
	// The admin console and its traffic API (ui.go).
	console := a.uiRoutes(admRoutes)
	routes := anthropic.New(oai).Routes() // OpenAI's API and Anthropic's Messages API
	uploads := a.knowledgeRoutes(cfg, routes)
	a.responsesRoutes(cfg, oai, routes)
	a.batchRoutes(cfg, routes)
	a.asyncRoutes(cfg, routes, admRoutes)
	return telemetry.Middleware(a.obs.metrics, a.obs.tracing, api.NewHandler(api.Options{
		Auth:           a.keys,
		Log:            a.log,
		MaxBodyBytes:   cfg.Server.MaxBodyBytes,
		API:            routes,
		Uploads:        uploads,
		MaxUploadBytes: cfg.Knowledge.MaxFileBytes + 1<<20, // the file and the multipart around it
		Admin:          admRoutes,
		Public: map[string]http.HandlerFunc{
			"GET /healthz": func(w http.ResponseWriter, r *http.Request) {
				api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			},
			"GET /readyz":  a.readyz,
			"GET /metrics": a.obs.metrics.Handler().ServeHTTP,
			"GET /ui/":     console,
			"GET /ui":      console,
		},
	}))
}

// Handler returns the app's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Config returns the configuration in force.
func (a *App) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Serve serves on ln until ctx ends, then drains (shutdown.go): it stops
// accepting, waits for in-flight requests and streams up to the shutdown
// grace period, then ends what is left, a stream with an error event
// saying the server is shutting down. It returns once every request's
// handler returned, so every usage record is added before Close.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	cfg := a.Config()
	stopMetrics, merr := a.serveMetrics(cfg)
	if merr != nil {
		return merr
	}
	defer stopMetrics()
	reqCtx, cancelRequests := context.WithCancelCause(context.Background())
	defer cancelRequests(nil)
	readTimeout, writeTimeout, maxHeaderBytes := cfg.Server.Timeouts()
	srv := &http.Server{
		Handler:           a.active.wrap(withWriteDeadline(a.handler, writeTimeout)),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		// ReadTimeout bounds the whole request, body included; the
		// server lifts it once the body is read, so streams outlive it.
		ReadTimeout:    readTimeout,
		IdleTimeout:    cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes: maxHeaderBytes,
		BaseContext:    func(net.Listener) context.Context { return reqCtx },
		ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if cfg.Server.H2C {
		// Cleartext HTTP/2 with prior knowledge, next to HTTP/1.1.
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(api.WithJSONRawErrors(ln, maxHeaderBytes)) }() // net/http's own errors as OpenAI's
	a.log.Info("serving", "listen", ln.Addr().String(), "models", a.gw.Routes().Aliases())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	grace := cfg.Server.ShutdownGrace.D()
	a.log.Info("draining", "grace", grace.String())
	err := a.drain(srv, grace, cancelRequests)
	<-errc
	a.log.Info("stopped")
	return err
}

// withWriteDeadline bounds the writing of every response that is not an
// event stream to d from its first write, so that a client that stops
// reading cannot hold its connection and the response's buffers. An event
// stream bounds each of its writes instead (api/openai), which
// http.Server's WriteTimeout, one bound for the whole response, cannot.
func withWriteDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, d: d}
		// A keep-alive connection may carry the previous response's
		// deadline.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		h.ServeHTTP(dw, r)
	})
}

// deadlineWriter sets its connection's write deadline at its response's
// first write unless the response is an event stream.
type deadlineWriter struct {
	http.ResponseWriter
	d     time.Duration
	armed bool
}

func (w *deadlineWriter) arm() {
	if w.armed {
		return
	}
	w.armed = true
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
		_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(w.d))
	}
}

func (w *deadlineWriter) WriteHeader(code int) {
	if code >= 200 { // not for 1xx informational headers
		w.arm()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(b)
}

// Flush lets handlers that look for http.Flusher flush through it.
func (w *deadlineWriter) Flush() {
	w.arm()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Close releases the app's resources. Call it after Serve returned: it
// stops the key refresh, flushes the usage writer (what the store does not
// take is spilled and replayed at the next start) and closes the store.
func (a *App) Close() error {
	a.purge.stop()  // it uses the store
	a.stopPrompts() // it uses the store
	a.stopAsync()   // its jobs use the gateway and the store
	if a.batches != nil {
		a.batches.Close() // its lines use the gateway, the store and the files
	}
	if a.kb != nil {
		a.kb.Close() // its workers use the gateway and the store
	}
	a.probes.stop() // the probes use the store and Redis
	a.closeLoadMetrics()
	a.closeTelemetry()
	if a.closeCache != nil {
		a.closeCache()
	}
	err := a.closeGovernance()
	a.backups.stop() // after the usage log's last records are in the database: replication ships them
	return err
}

// closeGovernance stops what governance.go started, in reverse order.
func (a *App) closeGovernance() error {
	a.bg.stop()
	if a.usage != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := a.usage.Close(ctx); err != nil {
			a.log.Warn("closing the usage writer", "err", err.Error())
		}
		cancel()
	}
	a.closeBudgets()
	if a.closeLimiter != nil {
		a.closeLimiter()
	}
	return a.db.Close()
}
