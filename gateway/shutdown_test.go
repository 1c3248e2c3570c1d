package gateway

import (
	"context"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// waiting answers a call only when its context ends, with the cancel.
type waiting struct{ billed }

func (w *waiting) Chat(ctx context.Context, _ *llm.ChatRequest) (*llm.ChatResponse, error) {
	<-ctx.Done()
	return nil, &llm.Error{Kind: llm.KindCanceled, Err: ctx.Err()}
}

// TestRequestCutByTheShutdownIsRecordedAsSuch records the requests whose
// context the server's shutdown canceled (gateway.ErrShuttingDown as the
// cause), a stream under way and a call, as server_shutting_down, and a
// request its client canceled as canceled.
func TestRequestCutByTheShutdownIsRecordedAsSuch(t *testing.T) {
	tbl, err := route.New([]config.Model{{Name: "chat", Targets: []config.Target{{Provider: "a", Model: "ma"}}}},
		map[string]llm.Provider{"a": &waiting{billed: billed{name: "a"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, s := New(tbl, Options{}), &sink{}
	g.SetUsage(s)
	p := tenant.Principal{TenantID: "acme", KeyID: "key_1"}

	shutdown, stop := context.WithCancelCause(t.Context())
	st, _, err := g.Stream(shutdown, p, req(), StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	stop(ErrShuttingDown)
	_ = st.Close() // the API closes a stream it ends early

	_, _, err = g.Chat(shutdown, p, req())
	if err == nil {
		t.Fatal("a call the shutdown canceled succeeded")
	}
	gone, leave := context.WithCancel(t.Context())
	leave()
	if _, _, err = g.Chat(gone, p, req()); err == nil {
		t.Fatal("a call its client canceled succeeded")
	}

	recs := s.all()
	want := []string{"server_shutting_down", "server_shutting_down", "canceled"}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, r := range recs {
		if r.Status != want[i] {
			t.Errorf("record %d (stream %v) has status %q, want %q", i, r.Stream, r.Status, want[i])
		}
	}
}
