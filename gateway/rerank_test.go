package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// reranker is a fake that reranks: every document scores its index (the
// last document is the best).
type reranker struct{ *fake }

func (r reranker) Rerank(ctx context.Context, req *llm.RerankRequest) (*llm.RerankResponse, error) {
	if err := r.fail(); err != nil {
		return nil, err
	}
	out := &llm.RerankResponse{Model: req.Model, Usage: llm.Usage{PromptTokens: 7, TotalTokens: 7}}
	for i := range req.Documents {
		out.Results = append(out.Results, llm.RerankResult{Index: i, Score: float64(i)})
	}
	llm.SortRerank(out.Results)
	return out, nil
}

// rerankGW builds a gateway with alias "rr" on provider a and the fallback
// "backup" on b; a and b rerank when their flags say so.
func rerankGW(t *testing.T, aReranks, bReranks bool) (*Gateway, *fake, *fake) {
	t.Helper()
	a, b := &fake{name: "a"}, &fake{name: "b"}
	provider := func(f *fake, reranks bool) llm.Provider {
		if reranks {
			return reranker{f}
		}
		return f
	}
	tbl, err := route.New([]config.Model{
		{Name: "rr", Targets: []config.Target{{Provider: "a", Model: "ma"}}, Fallbacks: []string{"backup"}},
		{Name: "backup", Targets: []config.Target{{Provider: "b", Model: "mb"}}},
	}, map[string]llm.Provider{"a": provider(a, aReranks), "b": provider(b, bReranks)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(tbl, Options{}), a, b
}

func rerankReq() *llm.RerankRequest {
	return &llm.RerankRequest{Model: "rr", Query: "q", Documents: []string{"x", "y", "z"}}
}

func TestRerankFallsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b := rerankGW(t, true, true)
		a.err = &llm.Error{Kind: llm.KindOverloaded, Status: 503}
		resp, out, err := g.Rerank(t.Context(), tenant.Principal{}, rerankReq())
		if err != nil {
			t.Fatal(err)
		}
		// a is retried (per_target), then b answers.
		if resp.Model != "mb" || out.Target.Provider != "b" || a.calls.Load() < 2 || b.calls.Load() != 1 || out.Attempts != int(a.calls.Load()+b.calls.Load()) {
			t.Errorf("model %q, attempts %v", resp.Model, out.Tried)
		}
		if fmt.Sprint(resp.Results) != "[{2 2} {1 1} {0 0}]" {
			t.Errorf("results %v", resp.Results)
		}
	})
}

func TestRerankTerminalKindStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b := rerankGW(t, true, true)
		a.err = &llm.Error{Kind: llm.KindBadRequest, Status: 400}
		_, _, err := g.Rerank(t.Context(), tenant.Principal{}, rerankReq())
		if llm.KindOf(err) != llm.KindBadRequest || a.calls.Load() != 1 || b.calls.Load() != 0 {
			t.Errorf("err %v, calls %d %d", err, a.calls.Load(), b.calls.Load())
		}
	})
}

func TestRerankSkipsTargetsThatCannotRerank(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, b := rerankGW(t, false, true)
		req := rerankReq()
		req.TopN = 1
		resp, out, err := g.Rerank(t.Context(), tenant.Principal{}, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.calls.Load() != 0 || b.calls.Load() != 1 || out.Attempts != 1 || out.Target.Provider != "b" {
			t.Errorf("calls %d %d, attempts %v", a.calls.Load(), b.calls.Load(), out.Tried)
		}
		if fmt.Sprint(resp.Results) != "[{2 2}]" {
			t.Errorf("top 1 = %v", resp.Results)
		}
	})
}

func TestRerankUnsupported(t *testing.T) {
	g, a, b := rerankGW(t, false, false)
	_, out, err := g.Rerank(t.Context(), tenant.Principal{}, rerankReq())
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindBadRequest || e.Code != "unsupported_operation" || !errors.Is(err, llm.ErrUnsupported) {
		t.Fatalf("err %#v", err)
	}
	if e.Provider != "a" || e.Model != "ma" || !strings.Contains(e.Message, "a/ma, b/mb") {
		t.Errorf("error does not name the targets: %s/%s %q", e.Provider, e.Model, e.Message)
	}
	if a.calls.Load()+b.calls.Load() != 0 || out.Attempts != 0 {
		t.Errorf("calls made: %v", out.Tried)
	}
	// An unknown alias is a ModelError, as for every call.
	r := rerankReq()
	r.Model = "nope"
	if _, _, err := g.Rerank(t.Context(), tenant.Principal{}, r); !errors.As(err, new(*ModelError)) {
		t.Errorf("err %v", err)
	}
}
