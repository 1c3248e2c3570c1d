package config

import (
	"strings"
	"testing"
	"time"
)

func TestBackupParsesAndValidates(t *testing.T) {
	for yaml, want := range map[string]struct {
		interval time.Duration
		keep     int
	}{
		"backup: {to: /var/backups/bulwark, interval: 6h, keep: 7}": {6 * time.Hour, 7},
		"backup: {to: s3://bucket/bulwark/prod/, interval: 15m}":    {15 * time.Minute, DefaultBackupKeep},
		"backup: {to: s3://bucket}":                                 {DefaultBackupInterval.D(), DefaultBackupKeep},
		"":                                                          {DefaultBackupInterval.D(), DefaultBackupKeep},
	} {
		c, err := Parse([]byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", yaml, err)
		}
		if i, k := c.Backup.Schedule(); i != want.interval || k != want.keep {
			t.Errorf("%s: Schedule() = %s, %d; want %s, %d", yaml, i, k, want.interval, want.keep)
		}
	}
	c, err := Parse([]byte("backup: {replicate: 's3://bucket/bulwark/prod/', sync_interval: 250ms}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.Backup.Sync() != 250*time.Millisecond || c.Backup.To != "" {
		t.Errorf("replicate alone: %v, sync %s", err, c.Backup.Sync())
	}
	if Default().Backup.Sync() != time.Second {
		t.Errorf("default sync interval %s", Default().Backup.Sync())
	}
}

func TestBackupProblems(t *testing.T) {
	for yaml, want := range map[string]string{
		"backup: {to: backups}":                                            `backup.to (line 1): "backups" is not an absolute directory`,
		"backup: {to: gs://bucket/x}":                                      "only directories and s3:// URLs",
		"backup: {to: 's3:///x'}":                                          "is not an s3://bucket/prefix/ URL",
		"backup: {to: 's3://k:s@bucket/x'}":                                "is not an s3://bucket/prefix/ URL",
		"backup: {interval: 1h}":                                           "backup.to (line 1): is required to schedule backups",
		"backup: {to: /b, interval: 10ms}":                                 "backup.interval (line 1): 10ms is below the minimum of 1s",
		"backup: {to: /b, interval: -1h}":                                  `backup.interval (line 1): negative duration "-1h"`,
		"backup: {to: /b, keep: -1}":                                       "backup.keep (line 1): must not be negative",
		"backup: {to: /b, every: 1h}":                                      "every",
		"store: {type: postgres, url: 'postgres://x/y'}\nbackup: {to: /b}": "backup.to (line 2): backs up the embedded store",
	} {
		c, err := Parse([]byte(yaml), nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v; want %q", yaml, err, want)
		}
	}
}
