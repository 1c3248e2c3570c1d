package app

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
)

// feedDrift has the drift detector observe n successful chat requests of
// the given prompt size.
func feedDrift(ts *testServer, n, prompt int) {
	for range n {
		ts.app.Drift().Observe(drift.Observation{Alias: "chat", PromptTokens: prompt, OutputTokens: 5, Latency: time.Millisecond, FinishReason: "stop"})
	}
}

// driftReport sends method to /admin/v1/drift/chat[suffix] and returns
// the report.
func driftReport(t *testing.T, ts *testServer, method, suffix string) drift.Report {
	t.Helper()
	resp, body := ts.do(t, method, "/admin/v1/drift/chat"+suffix, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%s /admin/v1/drift/chat%s: %d %s", method, suffix, resp.StatusCode, body)
	}
	var r drift.Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s /admin/v1/drift/chat%s: %v %s", method, suffix, err, body)
	}
	return r
}

// sameBaseline reports whether two reports show the same baseline.
func sameBaseline(a, b drift.Report) bool {
	if a.BaselineSamples != b.BaselineSamples || !a.BaselineStart.Equal(b.BaselineStart) || len(a.Scores) != len(b.Scores) {
		return false
	}
	for i := range a.Scores {
		if !reflect.DeepEqual(a.Scores[i].Baseline, b.Scores[i].Baseline) {
			return false
		}
	}
	return true
}

// A drift baseline is kept in the store: after a restart, traffic is
// compared with it rather than with a new first window, and a rebaseline
// replaces it.
func TestDriftBaselineSurvivesRestart(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dataDir := t.TempDir()
		testDriftBaselineSurvivesRestart(t, fastConfig, func(o *Options) { o.DataDir = dataDir })
	})
	t.Run("postgres", func(t *testing.T) {
		pg, _ := scaledURLs(t)
		testDriftBaselineSurvivesRestart(t, fastConfig+fmt.Sprintf("store: {type: postgres, url: %q}\n", pgSchema(t, pg)))
	})
}

func testDriftBaselineSurvivesRestart(t *testing.T, cfg string, opts ...func(*Options)) {
	ts := start(t, cfg, opts...)
	feedDrift(ts, 3, 3)
	first := driftReport(t, ts, "POST", "/rebaseline")
	if first.BaselineSamples != 3 {
		t.Fatalf("rebaseline: baseline of %d samples, want 3", first.BaselineSamples)
	}
	ts.stop() // Close waits for the baseline to be saved

	ts = start(t, cfg, opts...)
	got := driftReport(t, ts, "GET", "")
	if !sameBaseline(got, first) || got.CurrentSamples != 0 {
		t.Fatalf("after a restart: %+v; want the stored baseline %+v and nothing current", got, first)
	}

	// A rebaseline replaces the stored baseline.
	feedDrift(ts, 5, 2000)
	second := driftReport(t, ts, "POST", "/rebaseline")
	if second.BaselineSamples != 5 {
		t.Fatalf("second rebaseline: baseline of %d samples, want 5", second.BaselineSamples)
	}
	ts.stop()
	ts = start(t, cfg, opts...)
	if got := driftReport(t, ts, "GET", ""); !sameBaseline(got, second) {
		t.Errorf("after a rebaseline and a restart: %+v; want %+v", got, second)
	}
}

// A stored baseline that cannot be read is logged, and Bulwark serves on:
// the model gets a new baseline, which replaces the unreadable one.
func TestDriftBaselineLoadFailureServesOn(t *testing.T) {
	dataDir := t.TempDir()
	inDir := func(o *Options) { o.DataDir = dataDir }
	ts := start(t, fastConfig, inDir)
	feedDrift(ts, 3, 3)
	driftReport(t, ts, "POST", "/rebaseline")
	ts.stop()

	db, err := sql.Open("sqlite", filepath.Join(dataDir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "UPDATE drift_baselines SET snapshot = 'not json'"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	ts = start(t, fastConfig, inDir, func(o *Options) { o.LogOutput = logs })
	if !strings.Contains(logs.String(), "loading drift baselines failed") {
		t.Errorf("the unreadable baseline was not logged:\n%s", logs.String())
	}
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("chat after a failed load: %d %s", resp.StatusCode, body)
	}
	if r := driftReport(t, ts, "GET", ""); r.BaselineSamples != 0 || r.CurrentSamples != 1 {
		t.Errorf("after a failed load: %+v; want no baseline and the one request current", r)
	}
	feedDrift(ts, 4, 3)
	fresh := driftReport(t, ts, "POST", "/rebaseline")
	ts.stop()
	ts = start(t, fastConfig, inDir)
	if got := driftReport(t, ts, "GET", ""); !sameBaseline(got, fresh) {
		t.Errorf("after a failed load, a rebaseline and a restart: %+v; want %+v", got, fresh)
	}
}
