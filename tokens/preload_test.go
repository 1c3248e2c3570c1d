package tokens

import (
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// Preload loads every vocabulary, so that no request pays for it.
func TestPreloadLoadsEveryVocabulary(t *testing.T) {
	if len(vocabularies) != 2 || vocabularies[0] != o200k || vocabularies[1] != cl100k {
		t.Fatalf("Preload loads %d vocabularies; want o200k_base and cl100k_base", len(vocabularies))
	}
	// Fresh encodings, which no other test has loaded.
	saved := vocabularies
	defer func() { vocabularies = saved }()
	vocabularies = []*encoding{newEncoding("o200k_base", splitO200k), newEncoding("cl100k_base", splitCL100k)}
	for _, e := range vocabularies {
		if e.loaded.Load() {
			t.Fatalf("%s loaded before Preload", e.name)
		}
	}
	Preload()
	for _, e := range vocabularies {
		if !e.loaded.Load() {
			t.Errorf("%s not loaded by Preload", e.name)
		}
	}
}

// A model whose tokens are estimated (not OpenAI's) is sure only of the
// lower bound: text the estimate counts many tokens for, but another
// tokenizer may take in few, is not counted against the window. OpenAI's
// models are counted exactly.
func TestEstimatedCountsKeepOnlyTheirBound(t *testing.T) {
	req := &llm.ChatRequest{Messages: []llm.Message{{Role: "user", Content: strings.Repeat("=-", 200) + " hello"}}}
	est := For("llama-3.1-70b").Chat(req)
	if est.Min >= est.Tokens || est.Min < tokensPerMessage+replyPriming+1+1 {
		t.Errorf("estimated count %+v; want Min the bound (framing, role and one word), below Tokens", est)
	}
	exact := For("gpt-4o").Chat(req)
	if exact.Min != exact.Tokens {
		t.Errorf("gpt-4o count %+v; want Min = Tokens", exact)
	}
}
