package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/tenant"
)

// loadKeys makes sure an admin key exists and loads the key set the
// request path authenticates against.
//
// On Postgres, every load of the key set is also saved in the data
// directory (tenant.SnapshotFile, hashes only), so that a replica can
// start while Postgres is unreachable: it then serves from the last key
// set saved, says so in /readyz, and the background refresh replaces the
// set once Postgres answers. Without a snapshot there is nothing to
// authenticate with, and the start fails.
func (a *App) loadKeys(ctx context.Context, cfg *config.Config) error {
	a.keys = tenant.NewKeyring(a.db)
	if cfg.Store.Type == config.StorePostgres {
		a.keysSnapshot = filepath.Join(cfg.DataDir, tenant.SnapshotFile)
		a.keys.SetSnapshot(a.keysSnapshot)
	}
	err := a.bootstrapKeys(ctx, cfg)
	if err == nil || a.keysSnapshot == "" {
		return err
	}
	if !errors.Is(err, tenant.ErrUnavailable) {
		return err // the store answered: not an outage
	}
	loadedAt, lerr := a.keys.LoadSnapshot(a.keysSnapshot)
	if lerr != nil {
		return fmt.Errorf("the store is unreachable and there is no key set to start from: %w (%w)", err, lerr)
	}
	a.log.Warn("the store is unreachable; serving with the key set saved before, until it is back",
		"snapshot_age", time.Since(loadedAt).Round(time.Second).String(), "err", err.Error())
	return nil
}

// bootstrapKeys runs tenant.Bootstrap, showing a created admin key once,
// and loads the key set from the store.
func (a *App) bootstrapKeys(ctx context.Context, cfg *config.Config) error {
	secret, created, err := tenant.Bootstrap(ctx, a.db, cfg.DataDir, a.opts.AdminKey)
	if err != nil {
		return fmt.Errorf("bootstrap admin key: %w", err)
	}
	if created {
		fmt.Fprintf(a.opts.Out, "Bulwark created an admin key. It is shown once; it is also in %s (mode 0600):\n\n    %s\n\n",
			filepath.Join(cfg.DataDir, tenant.AdminKeyFile), secret)
	}
	if err := a.keys.Reload(ctx); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	return nil
}

// registerKeysMetrics registers bulwark_keyset_snapshot_age_seconds when
// the key set is saved for starts without the store.
func (a *App) registerKeysMetrics() error {
	if a.keysSnapshot == "" {
		return nil
	}
	keys := a.keys
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bulwark_keyset_snapshot_age_seconds",
		Help: "Seconds since the store gave the key set in force, which is also the set saved in the data directory for a start while the store is unreachable; it grows while the store is.",
	}, func() float64 { return keysAge(keys.SnapshotStatus()).Seconds() })
	if err := a.obs.metrics.Registry().Register(age); err != nil {
		return fmt.Errorf("register key set metrics: %w", err)
	}
	return nil
}

// keysAge is how old the key set of st is; zero before one is loaded.
func keysAge(st tenant.SnapshotStatus) time.Duration {
	if st.LoadedAt.IsZero() {
		return 0
	}
	return max(0, time.Since(st.LoadedAt))
}

// snapshotCheck returns the /readyz check of the key set snapshot — where
// the key set in force came from and its age; degraded while it came from
// the snapshot, and when saving it fails (a restart during an outage would
// then start from an older set, or not at all) — and false when the
// key set is not saved (a local store).
func (a *App) snapshotCheck() (check, bool) {
	if a.keysSnapshot == "" {
		return check{}, false
	}
	st := a.keys.SnapshotStatus()
	age := int64(keysAge(st).Seconds())
	c := check{Status: "ok", Source: st.Source, AgeSeconds: &age}
	switch {
	case st.Source == tenant.SourceSnapshot:
		c.Status, c.Error = "degraded", "serving with the key set saved before the start; the store has not answered since"
	case st.Err != nil:
		c.Status, c.Error = "degraded", st.Err.Error()
	}
	return c, true
}
