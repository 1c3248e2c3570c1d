package usage

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tokens"
)

// Nanodollars is an amount of money in billionths of a US dollar.
type Nanodollars int64

// Dollars returns n in US dollars, for display; sums are made on
// Nanodollars, never on the float.
func (n Nanodollars) Dollars() float64 { return float64(n) / 1e9 }

// String formats n as dollars with nine decimal places, e.g. "$0.000002500".
func (n Nanodollars) String() string {
	sign, v := "", uint64(n)
	if n < 0 {
		sign, v = "-", uint64(-n)
	}
	return fmt.Sprintf("%s$%d.%09d", sign, v/1e9, v%1e9)
}

// Price is what one model costs, in US dollars per million tokens, as the
// config file writes it (`input: 2.50`). It is plain data: the zero Price
// is free.
type Price struct {
	Input  float64 `yaml:"input" json:"input"`
	Output float64 `yaml:"output" json:"output"`
	// CachedInput is the price of prompt tokens the upstream served from
	// its prompt cache. Zero means the Input price: a table that does not
	// mention caching never under-bills.
	CachedInput float64 `yaml:"cached_input" json:"cached_input"`
	// CacheWrite is the price of prompt tokens written to the upstream's
	// prompt cache (llm.Usage.CacheWriteTokens; Anthropic charges 1.25×
	// its input price for them). Zero means the Input price.
	CacheWrite float64 `yaml:"cache_write" json:"cache_write"`
}

// maxPrice bounds a price, in dollars per million tokens, so that a typo
// is caught and costs stay far from overflowing.
const maxPrice = 1e6

// rate is a Price in integer micro-dollars per million tokens.
type rate struct{ input, output, cached, write uint64 }

// Prices is a price table built from the config, over the vendors' list
// prices (pricelist.go) when built with NewDefaultPrices. Its Cost is safe
// for concurrent use; a nil *Prices prices nothing.
type Prices struct {
	rates map[string]rate
	// list are the built-in list prices, matched by model family
	// (tokens.Match); nil when the table has none.
	list map[string]rate
}

// NewDefaultPrices is NewPrices over the built-in list prices
// (builtinPrices, read on PricesTaken): a model the table does not price
// costs its vendor's list price, matched by family
// ("claude-sonnet-4-5-20250929" and "us.anthropic.claude-sonnet-4-5-…"
// are claude-sonnet-4-5).
func NewDefaultPrices(table map[string]Price) (*Prices, error) {
	p, err := NewPrices(table)
	if err != nil {
		return nil, err
	}
	list, err := NewPrices(builtinPrices)
	if err != nil { // the built-in list is checked by its test
		return nil, fmt.Errorf("built-in prices: %w", err)
	}
	p.list = list.rates
	return p, nil
}

// NewPrices builds a table from prices keyed by model. A key is either a
// target ("provider/model", e.g. "azure/gpt-4o") or a bare model name
// ("gpt-4o"); Cost prefers the target. Every invalid price is reported.
func NewPrices(table map[string]Price) (*Prices, error) {
	p := &Prices{rates: make(map[string]rate, len(table))}
	var errs []error
	models := make([]string, 0, len(table))
	for m := range table {
		models = append(models, m)
	}
	slices.Sort(models)
	for _, m := range models {
		pr := table[m]
		if m == "" {
			errs = append(errs, errors.New("prices: empty model name"))
			continue
		}
		var r rate
		ok := true
		for _, f := range []struct {
			name string
			v    float64
			dst  *uint64
		}{{"input", pr.Input, &r.input}, {"output", pr.Output, &r.output}, {"cached_input", pr.CachedInput, &r.cached},
			{"cache_write", pr.CacheWrite, &r.write}} {
			if math.IsNaN(f.v) || f.v < 0 || f.v > maxPrice {
				errs = append(errs, fmt.Errorf("prices[%s].%s: %v is not a price in dollars per million tokens between 0 and %v",
					strconv.Quote(m), f.name, f.v, maxPrice))
				ok = false
				continue
			}
			*f.dst = uint64(math.Round(f.v * 1e6))
		}
		if !ok {
			continue
		}
		if pr.CachedInput == 0 {
			r.cached = r.input
		}
		if pr.CacheWrite == 0 {
			r.write = r.input
		}
		p.rates[m] = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Cost returns what usage u on model costs and whether the table prices
// model. model is a target ("provider/model") or a bare model name; for a
// target, a price for the target wins over one for its model name, and
// either over a built-in list price. An unpriced model costs 0.
//
// Cost applies the table only; which usage is billed is the billing rule in
// the package documentation: the answering attempt's reported usage, never
// a failed attempt's.
func (p *Prices) Cost(model string, u llm.Usage) (Nanodollars, bool) {
	if p == nil {
		return 0, false
	}
	r, ok := p.rates[model]
	if !ok {
		if _, name, found := strings.Cut(model, "/"); found {
			r, ok = p.rates[name]
		}
	}
	if !ok && p.list != nil {
		// A model the list prices by family: a price the config gives
		// its family ("claude-sonnet-4-5" for a dated snapshot) still
		// wins, unless the list names the model more closely (the
		// config's "gpt-4o" is not a price for the list's "gpt-4o-mini").
		var n int
		if r, n = tokens.MatchLen(p.list, model); n > 0 {
			ok = true
			if own, m := tokens.MatchLen(p.rates, model); m >= n {
				r = own
			}
		}
	}
	if !ok {
		return 0, false
	}
	prompt, completion, cached, written := clamp(u.PromptTokens), clamp(u.CompletionTokens), clamp(u.CachedTokens), clamp(u.CacheWriteTokens)
	cached = min(cached, prompt)
	written = min(written, prompt-cached)
	// Tokens times micro-dollars per million tokens is pico-dollars; sum
	// in 128 bits, then round once to nano-dollars.
	var hi, lo uint64
	for _, t := range [...]struct{ n, r uint64 }{{prompt - cached - written, r.input}, {cached, r.cached}, {written, r.write}, {completion, r.output}} {
		h, l := bits.Mul64(t.n, t.r)
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	lo, c := bits.Add64(lo, 500, 0)
	hi += c
	if hi >= 1000 {
		return math.MaxInt64, true
	}
	q, _ := bits.Div64(hi, lo, 1000)
	if q > math.MaxInt64 {
		return math.MaxInt64, true
	}
	return Nanodollars(q), true
}

func clamp(n int) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}
