package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/usage"
)

// BenchmarkAppend appends the usage writer's full batch (256 records) at
// a time; ns/op ÷ 256 is what one request's ledger row costs.
func BenchmarkAppend(b *testing.B) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bulwark.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const batch = 256
	recs := make([]usage.Record, batch)
	now := time.Now().UTC()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range recs {
			recs[j] = usage.Record{ID: usage.NewID(), Time: now, RequestID: "req_0123456789abcdef01234567",
				TenantID: "acme", KeyID: "key_0123456789", Alias: "chat", Target: "openai/gpt-4o-mini",
				PromptTokens: 1200, CompletionTokens: 300, Cost: 360000, Latency: 812 * time.Millisecond,
				Attempts: 1, Status: usage.StatusOK}
		}
		if err := db.Append(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
}
