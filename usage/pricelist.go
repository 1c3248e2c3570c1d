package usage

// PricesTaken is when the built-in list prices below were read from the
// vendors' pricing pages.
const PricesTaken = "2026-12-06"

// builtinPrices are vendors' list prices in US dollars per million tokens,
// by model name (the name the vendor's API takes; dated snapshots,
// provider prefixes and Bedrock ids are matched by family, see
// NewDefaultPrices). Sources: Anthropic's pricing and model pages
// (https://platform.claude.com/docs/en/about-claude/pricing), OpenAI's
// (https://openai.com/api/pricing), Google's Gemini API pricing
// (https://ai.google.dev/gemini-api/docs/pricing) and Amazon Bedrock's
// on-demand prices in us-east-1 (https://aws.amazon.com/bedrock/pricing),
// cross-checked against LiteLLM's model_prices_and_context_window.json.
// Claude on Bedrock and Vertex is priced as on Anthropic's API. Prices the
// config gives (`prices:`) win over this list, for a model and for its
// family: a negotiated rate, a region's surcharge, a provisioned
// throughput model (billed by the hour, so priced 0 there).
//
// CachedInput is the price of a prompt-cache hit and CacheWrite of a
// 5-minute prompt-cache write; zero means the Input price. A tiered price
// (Gemini's above 200k prompt tokens, Claude's long context) is listed at
// its lowest tier. Embedding models have an Input price only.
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

	// OpenAI.
	"gpt-5":                  {Input: 1.25, Output: 10, CachedInput: 0.125},
	"gpt-5-mini":             {Input: 0.25, Output: 2, CachedInput: 0.025},
	"gpt-5-nano":             {Input: 0.05, Output: 0.40, CachedInput: 0.005},
	"gpt-4.1":                {Input: 2, Output: 8, CachedInput: 0.50},
	"gpt-4.1-mini":           {Input: 0.40, Output: 1.60, CachedInput: 0.10},
	"gpt-4.1-nano":           {Input: 0.10, Output: 0.40, CachedInput: 0.025},
	"gpt-4o":                 {Input: 2.50, Output: 10, CachedInput: 1.25},
	"gpt-4o-mini":            {Input: 0.15, Output: 0.60, CachedInput: 0.075},
	"o3":                     {Input: 2, Output: 8, CachedInput: 0.50},
	"o3-pro":                 {Input: 20, Output: 80},
	"o3-mini":                {Input: 1.10, Output: 4.40, CachedInput: 0.55},
	"o4-mini":                {Input: 1.10, Output: 4.40, CachedInput: 0.275},
	"text-embedding-3-small": {Input: 0.02},
	"text-embedding-3-large": {Input: 0.13},
	"text-embedding-ada-002": {Input: 0.10},

	// Google Gemini API (paid tier; prompts ≤ 200k tokens).
	"gemini-3-pro-preview":  {Input: 2, Output: 12, CachedInput: 0.20},
	"gemini-2.5-pro":        {Input: 1.25, Output: 10, CachedInput: 0.125},
	"gemini-2.5-flash":      {Input: 0.30, Output: 2.50, CachedInput: 0.03},
	"gemini-2.5-flash-lite": {Input: 0.10, Output: 0.40, CachedInput: 0.01},
	"gemini-2.0-flash":      {Input: 0.10, Output: 0.40, CachedInput: 0.025},
	"gemini-2.0-flash-lite": {Input: 0.075, Output: 0.30},
	"gemini-embedding-001":  {Input: 0.15},

	// Amazon Bedrock's own and hosted models (on demand, us-east-1).
	"nova-premier":          {Input: 2.50, Output: 12.50},
	"nova-pro":              {Input: 0.80, Output: 3.20, CachedInput: 0.20},
	"nova-lite":             {Input: 0.06, Output: 0.24, CachedInput: 0.015},
	"nova-micro":            {Input: 0.035, Output: 0.14, CachedInput: 0.00875},
	"titan-embed-text-v2":   {Input: 0.02},
	"titan-embed-text-v1":   {Input: 0.10},
	"embed-english-v3":      {Input: 0.10},
	"embed-multilingual-v3": {Input: 0.10},
	"llama3-3-70b-instruct": {Input: 0.72, Output: 0.72},
	"llama3-1-8b-instruct":  {Input: 0.22, Output: 0.22},
	"mistral-large-2402":    {Input: 4, Output: 12},
}
