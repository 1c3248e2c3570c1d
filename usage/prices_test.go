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
