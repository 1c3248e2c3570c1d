package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRequestLogParse(t *testing.T) {
	c, err := Parse([]byte(`
telemetry:
  request_log:
    enabled: true
    retention: 24h
    capture_content: true
    max_content_bytes: 4096
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	rl := c.Telemetry.RequestLog
	if !rl.Enabled || !rl.CaptureContent || rl.RetentionOrDefault() != 24*time.Hour || rl.ContentLimit() != 4096 {
		t.Errorf("request_log = %+v", rl)
	}
	d := Default().Telemetry.RequestLog
	if d.Enabled || d.CaptureContent || d.RetentionOrDefault() != 168*time.Hour || d.ContentLimit() != 16384 {
		t.Errorf("defaults = %+v", d)
	}
}

func TestRequestLogValidate(t *testing.T) {
	_, err := Parse([]byte(`telemetry:
  request_log:
    enabled: yes please
    retention: 10s
    max_content_bytes: 2000000
    capture: true
`), nil)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		"telemetry.request_log.enabled (line 3)",
		"telemetry.request_log.retention (line 4): must be at least 1m0s",
		"telemetry.request_log.max_content_bytes (line 5): must be at most 1048576",
		"telemetry.request_log.capture (line 6): unknown field",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	_, err = Parse([]byte("telemetry:\n  request_log:\n    max_content_bytes: -1\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "telemetry.request_log.max_content_bytes (line 3): must not be negative") {
		t.Errorf("negative max_content_bytes: %v", err)
	}
}
