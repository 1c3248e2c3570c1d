package usagetest

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

// testRetrieval: what grounded requests' searches added is stored and
// summed per group; requests that were not grounded add nothing.
func testRetrieval(t *testing.T, l usage.Ledger) {
	recs := []usage.Record{
		rec("g1", "a", "ka", "kb-chat", 0, 1),
		rec("g2", "a", "ka", "kb-chat", time.Minute, 2),
		rec("p1", "a", "ka", "chat", 2*time.Minute, 3),
	}
	recs[0].Retrieval, recs[0].RetrievalChunks, recs[0].RetrievalTokens = 40*time.Millisecond, 5, 900
	recs[1].Retrieval, recs[1].RetrievalChunks, recs[1].RetrievalTokens = 10*time.Millisecond, 0, 0
	if err := l.Append(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	rows, err := l.Query(t.Context(), usage.Filter{Tenant: "a", GroupBy: usage.GroupAlias})
	if err != nil || len(rows) != 2 {
		t.Fatalf("Query = %+v, %v", rows, err)
	}
	byAlias := map[string]usage.Row{}
	for _, r := range rows {
		byAlias[r.Group] = r
	}
	if r := byAlias["kb-chat"]; r.RetrievalChunks != 5 || r.RetrievalTokens != 900 || r.Retrieval != 50*time.Millisecond {
		t.Errorf("grounded alias: %+v", r)
	}
	if r := byAlias["chat"]; r.RetrievalChunks != 0 || r.RetrievalTokens != 0 || r.Retrieval != 0 {
		t.Errorf("plain alias: %+v", r)
	}
	bad := rec("bad", "a", "ka", "chat", 0, 1)
	bad.RetrievalChunks = -1
	if err := l.Append(t.Context(), []usage.Record{bad}); err == nil {
		t.Error("a record with negative retrieval chunks was stored")
	}
}
