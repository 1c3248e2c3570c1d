package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/config"
)

// backupRetry is how soon a failed scheduled backup is tried again (or
// the interval, when shorter).
const backupRetry = 5 * time.Minute

// scheduler runs the scheduled backups of config backup: an archive of
// the data directory (package backup) every interval, to a directory or
// an object storage prefix, keeping the newest keep. Its goroutine is
// owned by backupJobs.schedule.
type scheduler struct {
	target   *backup.Target
	dataDir  string
	version  string
	interval time.Duration
	keep     int
	log      *slog.Logger
	// lastSuccess is the creation time of the newest archive known
	// good, as Unix seconds; failures counts the backups that failed.
	lastSuccess prometheus.Gauge
	failures    prometheus.Counter
}

// backupJobs are the scheduled backups and the continuous replication
// config backup sets; either may be nil. stop them before the store
// closes.
type backupJobs struct {
	schedule  *background
	replicate *backup.Replicator
	log       *slog.Logger
}

// stop ends the schedule, waiting for a backup under way to be
// cancelled, and ships what replication has not shipped yet (within 30
// seconds) before it stops.
func (j *backupJobs) stop() {
	if j == nil {
		return
	}
	j.schedule.stop()
	if j.replicate != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := j.replicate.Close(ctx); err != nil {
			j.log.Warn("stopping replication", "err", err.Error())
		}
	}
}

// startBackups starts what cfg.Backup sets: scheduled backups
// (startSchedule) and continuous replication (startReplication). Object
// storage settings come from the environment (backup.S3ConfigFromEnv).
func (a *App) startBackups(ctx context.Context, cfg *config.Config) (*backupJobs, error) {
	b := cfg.Backup
	if b.To == "" && b.Replicate == "" {
		return nil, nil
	}
	j := &backupJobs{log: a.log}
	var err error
	if j.replicate, err = a.startReplication(ctx, cfg); err != nil {
		return nil, err
	}
	if j.schedule, err = a.startSchedule(ctx, cfg); err != nil {
		j.stop()
		return nil, err
	}
	return j, nil
}

// startReplication streams the database to cfg.Backup.Replicate; nil
// when it is not set.
func (a *App) startReplication(ctx context.Context, cfg *config.Config) (*backup.Replicator, error) {
	if cfg.Backup.Replicate == "" {
		return nil, nil
	}
	sc, err := backup.S3ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("backup.replicate: %w", err)
	}
	r, err := backup.Replicate(ctx, backup.ReplicateOptions{DataDir: cfg.DataDir, To: cfg.Backup.Replicate, S3: sc,
		SyncInterval: cfg.Backup.Sync(), Log: a.log.With("component", "replication")})
	if err != nil {
		return nil, fmt.Errorf("backup.replicate: %w", err)
	}
	last := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bulwark_replication_last_sync_timestamp_seconds",
		Help: "When the database's replication to object storage last completed a sync (Unix seconds); 0 before the first. A lost machine loses the writes since about one sync interval before it: alert when it falls behind the clock.",
	}, func() float64 {
		if t := r.LastSync(); !t.IsZero() {
			return float64(t.UnixMilli()) / 1000
		}
		return 0
	})
	if err := a.obs.metrics.Registry().Register(last); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("register replication metrics: %w", err)
	}
	a.log.Info("replicating the database", "to", cfg.Backup.Replicate, "sync_interval", cfg.Backup.Sync().String())
	return r, nil
}

// startSchedule starts the backup schedule cfg.Backup sets; a nil
// background when it sets none. The target and its object storage
// client are checked here, the storage itself is first reached by the
// first backup.
func (a *App) startSchedule(ctx context.Context, cfg *config.Config) (*background, error) {
	if cfg.Backup.To == "" {
		return nil, nil
	}
	var client *backup.S3
	if backup.IsS3(cfg.Backup.To) {
		sc, err := backup.S3ConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("backup.to: %w", err)
		}
		if client, err = backup.NewS3(ctx, sc); err != nil {
			return nil, fmt.Errorf("backup.to: %w", err)
		}
	}
	target, err := backup.NewTarget(cfg.Backup.To, client)
	if err != nil {
		return nil, fmt.Errorf("backup.to: %w", err)
	}
	interval, keep := cfg.Backup.Schedule()
	s := &scheduler{
		target: target, dataDir: cfg.DataDir, version: a.opts.Version,
		interval: interval, keep: keep, log: a.log,
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bulwark_backup_last_success_timestamp_seconds",
			Help: "When the newest scheduled backup known good was made (Unix seconds); 0 before the first. Alert when it falls more than an interval or two behind.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_backup_failures_total",
			Help: "Scheduled backups that failed (each is logged with its error and tried again within five minutes).",
		}),
	}
	for _, c := range []prometheus.Collector{s.lastSuccess, s.failures} {
		if err := a.obs.metrics.Registry().Register(c); err != nil {
			return nil, fmt.Errorf("register backup metrics: %w", err)
		}
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel}
	b.wg.Go(func() { s.run(bctx) })
	return b, nil
}

// run backs up every interval until ctx ends. The first backup is due one
// interval after the newest archive in the target, so that restarts do
// not each make one, nor postpone one forever.
func (s *scheduler) run(ctx context.Context) {
	next := time.Now()
	if all, err := s.target.List(ctx); err != nil {
		s.log.Warn("listing the backups failed; backing up now", "to", s.target.String(), "err", err.Error())
	} else if len(all) > 0 {
		newest := all[len(all)-1].Created
		s.lastSuccess.Set(float64(newest.UnixMilli()) / 1000)
		next = newest.Add(s.interval)
	}
	s.log.Info("backups scheduled", "to", s.target.String(), "interval", s.interval.String(), "keep", s.keep, "next", next.UTC().Format(time.RFC3339))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait := s.interval
		if !s.once(ctx) {
			wait = min(s.interval, backupRetry)
		}
		timer.Reset(wait)
	}
}

// once makes one backup and prunes the old ones; it reports whether the
// backup was made.
func (s *scheduler) once(ctx context.Context) bool {
	began := time.Now()
	a, m, err := s.target.Backup(ctx, backup.Options{DataDir: s.dataDir, Version: s.version})
	if err != nil {
		if ctx.Err() == nil {
			s.failures.Inc()
			s.log.Error("scheduled backup failed", "to", s.target.String(), "err", err.Error())
		}
		return false
	}
	s.lastSuccess.Set(float64(a.Created.UnixMilli()) / 1000)
	s.log.Info("backed up", "archive", a.Location, "files", len(m.Files),
		"schema_version", m.SchemaVersion, "took", time.Since(began).Round(time.Millisecond).String())
	removed, err := s.target.Prune(ctx, s.keep)
	for _, r := range removed {
		s.log.Info("deleted an old backup", "archive", r.Location, "keep", s.keep)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("deleting old backups failed; they are tried again after the next backup", "to", s.target.String(), "err", err.Error())
	}
	return true
}
