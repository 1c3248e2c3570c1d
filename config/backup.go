package config

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of scheduled backups.
const (
	DefaultBackupInterval = Duration(6 * time.Hour)
	DefaultBackupKeep     = 7
	// MinBackupInterval bounds how often backups may run.
	MinBackupInterval = Duration(time.Second)
	// DefaultSyncInterval and MinSyncInterval are continuous
	// replication's.
	DefaultSyncInterval = Duration(time.Second)
	MinSyncInterval     = Duration(100 * time.Millisecond)
)

// Backup configures scheduled backups of the embedded store: `bulwark
// serve` writes an archive of the data directory (package backup) every
// Interval to To and deletes the oldest beyond Keep. The zero value makes
// none. The section is read at start; a reload keeps the schedule it
// started with.
type Backup struct {
	// To is an absolute directory or an s3://bucket/prefix/ URL in
	// S3-compatible object storage (endpoint and credentials from the
	// environment: AWS_ENDPOINT_URL or BULWARK_S3_ENDPOINT,
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BULWARK_S3_PATH_STYLE).
	// Archives are named bulwark-<UTC time>.tar.gz; empty makes no
	// backups.
	To string `yaml:"to" json:"to,omitempty"`
	// Interval is the time between backups (default 6h, at least 1s).
	// The first runs one interval after the newest archive in To, or at
	// start when there is none or it is older.
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	// Keep is how many archives are kept in To (default 7); older ones,
	// and only files named like the archives, are deleted after each
	// backup.
	Keep int `yaml:"keep" json:"keep,omitempty"`
	// Replicate is an s3://bucket/prefix/ to which every change to the
	// database is streamed as it commits (Litestream), so that a machine
	// lost loses seconds of writes and a standby can take over with
	// `bulwark restore --replica`. One server per prefix. It holds the
	// database only: not admin.key, nor usage records not yet in the
	// database. Empty replicates nothing; it needs no To.
	Replicate string `yaml:"replicate" json:"replicate,omitempty"`
	// SyncInterval is how often new transactions are shipped to
	// Replicate (default 1s, at least 100ms).
	SyncInterval Duration `yaml:"sync_interval" json:"sync_interval,omitempty"`
}

// Sync returns the replication's sync interval, with the default for
// zero.
func (b Backup) Sync() time.Duration {
	if b.SyncInterval <= 0 {
		return DefaultSyncInterval.D()
	}
	return b.SyncInterval.D()
}

// Schedule returns the interval and the number kept, with the defaults
// for zero values.
func (b Backup) Schedule() (interval time.Duration, keep int) {
	interval, keep = b.Interval.D(), b.Keep
	if interval <= 0 {
		interval = DefaultBackupInterval.D()
	}
	if keep <= 0 {
		keep = DefaultBackupKeep
	}
	return interval, keep
}

func (v *validator) backup(c *Config) {
	b := c.Backup
	v.replicate(c)
	v.duration("backup.interval", b.Interval)
	if b.Interval > 0 && b.Interval < MinBackupInterval {
		v.add("backup.interval", "%s is below the minimum of %s", b.Interval, MinBackupInterval)
	}
	v.nonNegative("backup.keep", int64(b.Keep))
	if b.To == "" {
		if b.Interval != 0 || b.Keep != 0 {
			v.add("backup.to", "is required to schedule backups (a directory or s3://bucket/prefix/)")
		}
		return
	}
	if c.Store.Type == StorePostgres {
		v.add("backup.to", "backs up the embedded store; with store type postgres use the database's own backups")
	}
	if strings.ContainsFunc(b.To, isControl) {
		v.add("backup.to", "has a control character (a newline from a secret file?)")
		return
	}
	if strings.HasPrefix(b.To, "s3://") {
		u, err := url.Parse(b.To)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			v.add("backup.to", "%q is not an s3://bucket/prefix/ URL", b.To)
		}
		return
	}
	if strings.Contains(b.To, "://") {
		v.add("backup.to", "%q: only directories and s3:// URLs are backup targets", b.To)
		return
	}
	if !filepath.IsAbs(b.To) {
		v.add("backup.to", "%q is not an absolute directory", b.To)
	}
}

func (v *validator) replicate(c *Config) {
	b := c.Backup
	v.duration("backup.sync_interval", b.SyncInterval)
	if b.SyncInterval > 0 && b.SyncInterval < MinSyncInterval {
		v.add("backup.sync_interval", "%s is below the minimum of %s", b.SyncInterval, MinSyncInterval)
	}
	if b.Replicate == "" {
		if b.SyncInterval != 0 {
			v.add("backup.replicate", "is required for sync_interval (an s3://bucket/prefix/)")
		}
		return
	}
	if c.Store.Type == StorePostgres {
		v.add("backup.replicate", "replicates the embedded store; with store type postgres use the database's own replication")
	}
	u, err := url.Parse(b.Replicate)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add("backup.replicate", "%q is not an s3://bucket/prefix/ URL", b.Replicate)
	}
}
