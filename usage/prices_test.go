package usage_test

import (
	"math"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/usage"
)

func TestCost(t *testing.T) {
	p, err := usage.NewPrices(map[string]usage.Price{
		"gpt-4o":                 {Input: 2.50, Output: 10, CachedInput: 1.25},
		"azure/gpt-4o":           {Input: 2.75, Output: 11},
		"text-embedding-3-small": {Input: 0.02},
		"flash":                  {Input: 0.0375, Output: 0.15},
		"free":                   {},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model string
		u     llm.Usage
		want  usage.Nanodollars
		known bool
	}{
		// 800 uncached × $2.50 + 200 cached × $1.25 + 500 × $10, per million.
		{"gpt-4o", llm.Usage{PromptTokens: 1000, CachedTokens: 200, CompletionTokens: 500}, 7_250_000, true},
		{"openai/gpt-4o", llm.Usage{PromptTokens: 1000, CachedTokens: 200, CompletionTokens: 500}, 7_250_000, true},
		// A price for the target wins over the model's; no cached price
		// bills cached tokens as input.
		{"azure/gpt-4o", llm.Usage{PromptTokens: 1000, CachedTokens: 200, CompletionTokens: 500}, 8_250_000, true},
		// Fractions of a micro-dollar are kept.
		{"text-embedding-3-small", llm.Usage{PromptTokens: 7}, 140, true},
		// 112.5 nano-dollars rounds half up, once per request.
		{"flash", llm.Usage{PromptTokens: 3}, 113, true},
		{"free", llm.Usage{PromptTokens: 1000, CompletionTokens: 1000}, 0, true},
		{"unknown", llm.Usage{PromptTokens: 1000}, 0, false},
		{"", llm.Usage{PromptTokens: 1000}, 0, false},
		// Nonsense from an upstream is clamped, not billed negative.
		{"gpt-4o", llm.Usage{PromptTokens: -5, CompletionTokens: -1}, 0, true},
		{"gpt-4o", llm.Usage{PromptTokens: 10, CachedTokens: 50}, 12_500, true},
		{"gpt-4o", llm.Usage{PromptTokens: math.MaxInt, CompletionTokens: math.MaxInt}, math.MaxInt64, true},
	} {
		got, known := p.Cost(tc.model, tc.u)
		if got != tc.want || known != tc.known {
			t.Errorf("Cost(%q, %+v) = %d, %v; want %d, %v", tc.model, tc.u, got, known, tc.want, tc.known)
		}
	}
	var none *usage.Prices
	if c, ok := none.Cost("gpt-4o", llm.Usage{PromptTokens: 1}); c != 0 || ok {
		t.Errorf("nil Prices: Cost = %d, %v", c, ok)
	}
}

func TestNewPricesReportsEveryProblem(t *testing.T) {
	_, err := usage.NewPrices(map[string]usage.Price{
		"ok":   {Input: 1},
		"nan":  {Input: math.NaN()},
		"neg":  {Output: -1},
		"huge": {CachedInput: 1e7},
		"":     {},
	})
	if err == nil {
		t.Fatal("NewPrices accepted bad prices")
	}
	for _, want := range []string{`prices["nan"].input`, `prices["neg"].output`, `prices["huge"].cached_input`, "empty model name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), `"ok"`) {
		t.Errorf("error %q mentions a valid price", err)
	}
}

func TestNanodollarsString(t *testing.T) {
	for n, want := range map[usage.Nanodollars]string{
		0: "$0.000000000", 2500: "$0.000002500", 7_250_000_000: "$7.250000000", -1: "-$0.000000001",
	} {
		if got := n.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int64(n), got, want)
		}
	}
}

// Cache writes are priced at their own rate, within the prompt tokens;
// without a rate they cost the input price.
func TestCacheWritesArePricedApart(t *testing.T) {
	p, err := usage.NewPrices(map[string]usage.Price{
		"claude": {Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75},
		"plain":  {Input: 3, Output: 15},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1,000,000 prompt tokens: 200,000 cache reads, 300,000 cache writes.
	u := llm.Usage{PromptTokens: 1_000_000, CompletionTokens: 0, CachedTokens: 200_000, CacheWriteTokens: 300_000}
	if got, _ := p.Cost("claude", u); got != usage.Nanodollars((500_000*3+200_000*0.30+300_000*3.75)*1000) {
		t.Errorf("claude: %s", got)
	}
	if got, _ := p.Cost("plain", u); got != usage.Nanodollars((800_000*3+200_000*3)*1000) {
		t.Errorf("plain: %s", got)
	}
	// More writes than uncached prompt tokens cannot make the sum exceed
	// the prompt.
	u.CacheWriteTokens = 5_000_000
	if got, _ := p.Cost("plain", u); got != usage.Nanodollars(1_000_000*3*1000) {
		t.Errorf("clamped: %s", got)
	}
	if _, err := usage.NewPrices(map[string]usage.Price{"x": {CacheWrite: -1}}); err == nil {
		t.Error("a negative cache_write price was accepted")
	}
}

// The built-in list prices are valid, dated, and found for every form of a
// model's name: dated snapshots, provider prefixes and Bedrock ids. The
// config's own prices win over them.
func TestBuiltinListPrices(t *testing.T) {
	if len(usage.BuiltinPrices) == 0 || usage.PricesTaken == "" {
		t.Fatal("no built-in prices")
	}
	if _, err := usage.NewPrices(usage.BuiltinPrices); err != nil {
		t.Fatal(err)
	}
	p, err := usage.NewDefaultPrices(map[string]usage.Price{"own/gpt-4o": {Input: 1, Output: 1}})
	if err != nil {
		t.Fatal(err)
	}
	u := llm.Usage{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}
	for name, pr := range usage.BuiltinPrices {
		want := usage.Nanodollars(math.Round((pr.Input + pr.Output) * 1e9))
		forms := []string{name, name + "-20250929", "vendor/" + name}
		switch {
		case strings.HasPrefix(name, "claude"):
			forms = append(forms, "us.anthropic."+name+"-20250929-v1:0", "anthropic."+name+"-v1:0")
		case strings.HasPrefix(name, "nova"), strings.HasPrefix(name, "titan"):
			forms = append(forms, "amazon."+name+"-v1:0", "us.amazon."+name+"-v1:0", "bedrock/amazon."+name+":0")
		case strings.HasPrefix(name, "embed-"):
			forms = append(forms, "cohere."+name)
		case strings.HasPrefix(name, "llama"):
			forms = append(forms, "meta."+name+"-v1:0", "us.meta."+name+"-v1:0")
		}
		for _, f := range forms {
			if got, ok := p.Cost(f, u); !ok || got != want {
				t.Errorf("%s: %s %v, want %s", f, got, ok, want)
			}
		}
	}
	if got, _ := p.Cost("own/gpt-4o", u); got != 2_000_000_000 {
		t.Errorf("the config's price did not win: %s", got)
	}
	// A config price for a family the list prices wins for its snapshots
	// too; one for a family the list does not price stays exact.
	p, err = usage.NewDefaultPrices(map[string]usage.Price{"claude-sonnet-4-5": {Input: 1, Output: 1}, "gpt-4o": {Input: 1, Output: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Cost("anthropic/claude-sonnet-4-5-20250929", u); got != 2_000_000_000 {
		t.Errorf("a dated snapshot of a configured family cost %s", got)
	}
	mini := usage.BuiltinPrices["gpt-4o-mini"]
	if got, _ := p.Cost("openai/gpt-4o-mini", u); got != usage.Nanodollars(math.Round((mini.Input+mini.Output)*1e9)) {
		t.Errorf("gpt-4o-mini cost %s: gpt-4o's configured price was applied to it", got)
	}
	if _, ok := p.Cost("openai/gpt-4o-transcribe-mini", u); !ok {
		t.Error("a gpt-4o variant the list does not name has no family price")
	}
	if _, ok := p.Cost("sim/sim-chat", u); ok {
		t.Error("a model no table prices was priced")
	}
}
