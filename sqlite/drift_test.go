package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/drift"
	"github.com/bulwark-ai/bulwark/drift/drifttest"
	"github.com/bulwark-ai/bulwark/sqlite"
)

func TestDriftBaselineStore(t *testing.T) {
	drifttest.Run(t, func(t *testing.T) drift.BaselineStore {
		return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
}

func TestDriftBaselinesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.db")
	b := drifttest.Taken(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), 50)
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveBaseline(t.Context(), "chat", b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, path).LoadBaselines(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := got["chat"]; !ok || g.Samples() != 50 || !g.Start.Equal(b.Start) {
		t.Errorf("after reopening: %+v; want the baseline saved", got)
	}
}
