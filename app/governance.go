package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/redis"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// keyRefresh is how often every replica reloads its key set from the
// store, as a backstop to the Postgres notifications (and the only
// refresh for SQLite, which another process may share through the CLI).
const keyRefresh = 30 * time.Second

// store is the one database that holds tenants, keys and the usage
// ledger: SQLite in the data directory or Postgres.
type store interface {
	tenant.Store
	usage.Ledger
	reqlog.Store        // the request log (telemetry.request_log)
	drift.BaselineStore // drift baselines across restarts
	responses.Store     // stored Responses API answers (responses.go)
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ store = (*sqlite.DB)(nil)
	_ store = (*postgres.DB)(nil)
)

// openStore opens the store cfg selects. Errors never quote the URL.
func openStore(ctx context.Context, cfg *config.Config) (store, error) {
	switch cfg.Store.Type {
	case config.StorePostgres:
		db, err := postgres.Open(ctx, cfg.Store.URL)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return db, nil
	case "", config.StoreSQLite:
		db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "bulwark.db"))
		if err != nil {
			return nil, fmt.Errorf("open embedded store: %w", err)
		}
		return db, nil
	}
	return nil, fmt.Errorf("unknown store type %q", cfg.Store.Type)
}

// newLimiter builds the limiter cfg selects: the in-process memory limiter,
// or the Redis limiter behind a Fallback that keeps serving on local limits
// while Redis is unreachable. close releases what it holds.
func newLimiter(cfg *config.Config, log *slog.Logger) (l limit.Limiter, fb *limit.Fallback, close func(), err error) {
	lc := cfg.Limits
	if lc.Backend != config.LimitsRedis {
		return limit.NewMemory(limit.MemoryOptions{}), nil, func() {}, nil
	}
	client, err := redis.NewClient(lc.RedisURL)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, nil, nil, errors.New("limits.redis_url: invalid Redis URL")
	}
	prefix := lc.Prefix
	if prefix == "" {
		prefix = "bulwark:limit:"
	}
	share := lc.FallbackShare
	if share == 0 {
		share = 1.0 / 3
	}
	fb = limit.NewFallback(redis.NewLimiter(client, redis.LimiterOptions{Prefix: prefix}), limit.FallbackOptions{
		Share:   share,
		Timeout: lc.Timeout.D(),
		OnChange: func(degraded bool, err error) {
			if degraded {
				log.Warn("redis limiter unreachable; enforcing local limits", "share", share, "err", errText(err))
			} else {
				log.Info("redis limiter reachable again")
			}
		},
	})
	return fb, fb, func() {
		_ = fb.Close()
		_ = client.Close()
	}, nil
}

// errText is err's message, or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// newPrices builds the price table of cfg, over the vendors' list prices.
func newPrices(cfg *config.Config) (*usage.Prices, error) {
	table := make(map[string]usage.Price, len(cfg.Prices))
	for m, p := range cfg.Prices {
		table[m] = usage.Price{Input: p.Input, Output: p.Output, CachedInput: p.CachedInput, CacheWrite: p.CacheWrite}
	}
	p, err := usage.NewDefaultPrices(table)
	if err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	return p, nil
}

// background holds the goroutines the app runs beside the server: the
// key set refresh and, on Postgres, the key change listener. Stop ends
// them and waits.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startBackground starts refreshing keys from db every keyRefresh and, if
// db is Postgres, reloading them on every key change any replica makes.
func startBackground(db store, keys *tenant.Keyring, log *slog.Logger) *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel}
	b.wg.Go(func() { keys.Run(ctx, keyRefresh) })
	if pg, ok := db.(*postgres.DB); ok {
		b.wg.Go(func() {
			pg.ListenKeys(ctx, func() {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := keys.Reload(rctx); err != nil && ctx.Err() == nil {
					log.Warn("reloading keys after a change failed; the previous key set stays in force", "err", err.Error())
				}
			}, log)
		})
	}
	return b
}

// stop ends the background goroutines and waits for them.
func (b *background) stop() {
	if b == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
}

// newUsageWriter returns the usage writer over db, logging under the data
// directory (store.usage_log says whether each record is synced), started.
func newUsageWriter(db store, cfg *config.Config, log *slog.Logger) (*usage.Writer, error) {
	w, err := usage.NewWriter(db, usage.WriterOptions{
		Dir:    filepath.Join(cfg.DataDir, "usage-spill"),
		Sync:   cfg.Store.UsageLog == config.UsageLogFsync,
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("usage writer: %w", err)
	}
	w.Start()
	return w, nil
}

// budgetStore is what a store that holds budgets provides; both backends
// do, and the key set loads budgets through tenant.BudgetLister.
type budgetStore interface {
	admin.BudgetStore
	tenant.BudgetLister
}

var (
	_ budgetStore = (*sqlite.DB)(nil)
	_ budgetStore = (*postgres.DB)(nil)
)

// budgets is the app's budget enforcement: the backend the gateway
// reserves in (in-memory, or Redis behind a BudgetFallback when limits use
// Redis), both seeded from the usage ledger.
type budgets struct {
	b        usage.Budgets
	fallback *usage.BudgetFallback // nil unless budgets use Redis
	close    func()
}

// setBudgets builds the budgets cfg selects, wires them into the gateway
// with logs (a soft budget's first overage in a period) and metrics
// (bulwark_budget_overages_total), and keeps them for the admin API.
func (a *App) setBudgets(cfg *config.Config) error {
	bs := &budgets{close: func() {}}
	lc := cfg.Limits
	if lc.Backend != config.LimitsRedis {
		bs.b = usage.NewMemoryBudgets(usage.MemoryBudgetsOptions{Ledger: a.db})
	} else {
		client, err := redis.NewClient(lc.RedisURL)
		if err != nil {
			return errors.New("limits.redis_url: invalid Redis URL")
		}
		prefix := lc.Prefix
		if prefix == "" {
			prefix = "bulwark:"
		}
		share := lc.FallbackShare
		if share == 0 {
			share = 1.0 / 3
		}
		log := a.log
		bs.fallback = usage.NewBudgetFallback(redis.NewBudgets(client, redis.BudgetsOptions{Prefix: prefix, Ledger: a.db}), usage.BudgetFallbackOptions{
			Local:   usage.MemoryBudgetsOptions{Ledger: a.db, Share: share},
			Timeout: lc.Timeout.D(),
			OnChange: func(degraded bool, err error) {
				if degraded {
					log.Warn("redis budgets unreachable; enforcing a local share of each budget", "share", share, "err", errText(err))
				} else {
					log.Info("redis budgets reachable again")
				}
			},
		})
		bs.b = bs.fallback
		bs.close = func() {
			_ = bs.fallback.Close()
			_ = client.Close()
		}
	}
	overages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_budget_overages_total",
		Help: "Requests over a budget: refused by a hard budget (mode=hard) or served over a soft one (mode=soft), by scope kind.",
	}, []string{"scope", "mode"})
	if err := a.obs.metrics.Registry().Register(overages); err != nil {
		bs.close()
		return fmt.Errorf("register budget metrics: %w", err)
	}
	errs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_budget_errors_total",
		Help: "Requests served without a budget check because the budget backend (or the usage ledger seeding it) failed.",
	})
	settleErrs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_budget_settle_errors_total",
		Help: "Budget reservations whose commit or cancel failed (the cost may be missing from the shared budget until it is next seeded from the ledger).",
	})
	if err := a.obs.metrics.Registry().Register(settleErrs); err != nil {
		bs.close()
		return fmt.Errorf("register budget metrics: %w", err)
	}
	if err := a.obs.metrics.Registry().Register(errs); err != nil {
		bs.close()
		return fmt.Errorf("register budget metrics: %w", err)
	}
	log := a.log
	var lastErrLog atomic.Int64 // Unix nanoseconds of the last error logged
	a.gw.SetBudgets(bs.b, func(ev gateway.BudgetEvent) {
		if ev.Err != nil {
			msg := "budgets cannot be checked; serving without them"
			if ev.Settle {
				settleErrs.Inc()
				msg = "a budget reservation could not be settled; its cost reaches the shared budget only when the period is next seeded from the ledger"
			} else {
				errs.Inc()
			}
			// One line a minute at most: the backend fails for every
			// request while it is down.
			if now, last := time.Now().UnixNano(), lastErrLog.Load(); now-last > int64(time.Minute) && lastErrLog.CompareAndSwap(last, now) {
				log.Warn(msg, "err", ev.Err.Error())
			}
			return
		}
		mode := "soft"
		if ev.Refused {
			mode = "hard"
		}
		overages.WithLabelValues(ev.Budget.Kind, mode).Inc()
		if ev.First {
			log.Warn("soft budget exceeded; requests are still served", "budget", ev.Budget.Name(),
				"period", string(ev.Budget.Period), "amount", ev.Budget.Amount.String())
		}
	})
	a.budgets = bs
	return nil
}

// budgetRoutes returns the admin API's budget routes, if the store holds
// budgets.
func (a *App) budgetRoutes(adm *admin.Handler) map[string]admin.HandlerFunc {
	st, ok := a.db.(budgetStore)
	if !ok {
		return nil
	}
	var b usage.Budgets
	if a.budgets != nil {
		b = a.budgets.b
	}
	return admin.NewBudgets(adm, st, b).Routes()
}

// budgetsDegraded reports whether budgets are enforced locally because
// Redis is unreachable.
func (a *App) budgetsDegraded() bool {
	return a.budgets != nil && a.budgets.fallback != nil && a.budgets.fallback.Degraded()
}

// closeBudgets stops what setBudgets started.
func (a *App) closeBudgets() {
	if a.budgets != nil {
		a.budgets.close()
	}
}
