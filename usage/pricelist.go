package usage

// PricesTaken is when the built-in list prices below were read from the
// vendors' pricing pages.
const PricesTaken = "2026-12-06"

// builtinPrices are vendors' list prices in US dollars per million tokens,
// by model name (the name the vendor's API takes; dated snapshots,
// provider prefixes and Bedrock ids are matched by family, see
// NewDefaultPrices). Only prices read from the vendor's own pages are
// here: today Anthropic's Claude models
// (https://platform.claude.com/docs/en/about-claude/pricing and the model
// pages under https://platform.claude.com/docs/en/models/). Other vendors'
// models are priced in the config (`prices:`), which wins over this list.
// CachedInput is the price of a prompt-cache hit and CacheWrite of a
// 5-minute prompt-cache write; zero means the Input price. A tiered price
// is listed at its lowest tier.
var builtinPrices = map[string]Price{
	"claude-fable-5":    {Input: 10, Output: 50, CachedInput: 1, CacheWrite: 12.50},
	"claude-fable-5-1":  {Input: 10, Output: 50, CachedInput: 0.25, CacheWrite: 12.50},
	"claude-haiku-4-5":  {Input: 1, Output: 5, CachedInput: 0.10, CacheWrite: 1.25},
	"claude-haiku-5-5":  {Input: 0.10, Output: 0.50, CacheWrite: 0.125}, // prompts ≤ 100k tokens
	"claude-opus-4-1":   {Input: 15, Output: 75, CachedInput: 1.50, CacheWrite: 18.75},
	"claude-opus-4-5":   {Input: 5, Output: 25, CachedInput: 0.50, CacheWrite: 6.25},
	"claude-opus-4-6":   {Input: 5, Output: 25, CachedInput: 0.50, CacheWrite: 6.25},
	"claude-opus-4-7":   {Input: 5, Output: 25, CachedInput: 0.50, CacheWrite: 6.25},
	"claude-opus-4-8":   {Input: 5, Output: 25, CachedInput: 0.50, CacheWrite: 6.25},
	"claude-opus-5":     {Input: 5, Output: 25, CachedInput: 0.50, CacheWrite: 6.25},
	"claude-opus-5-5":   {Input: 4, Output: 20, CachedInput: 0.20, CacheWrite: 5},
	"claude-sonnet-4":   {Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75},
	"claude-sonnet-4-5": {Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75},
	"claude-sonnet-4-6": {Input: 3, Output: 15, CachedInput: 0.30, CacheWrite: 3.75},
	"claude-sonnet-5":   {Input: 2, Output: 10, CachedInput: 0.20, CacheWrite: 2.50},
	"claude-sonnet-5-5": {Input: 2, Output: 10, CachedInput: 0.20, CacheWrite: 2.50},
}
