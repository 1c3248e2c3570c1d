package llm

import "encoding/json"

// ChatRequest is one chat completion call. Body holds the client's JSON
// exactly as received; providers that speak OpenAI's format forward it with
// only the model (and, for streams, stream_options) rewritten, so fields
// Bulwark does not interpret still reach the upstream untouched. The typed
// fields are the ones Bulwark itself reads.
type ChatRequest struct {
	// Model is the upstream model name the provider must call (the gateway
	// replaces the client's alias with the target's model before calling).
	Model    string
	Messages []Message
	Stream   bool
	// IncludeUsage reports whether the client asked for a final usage chunk
	// (stream_options.include_usage). Providers always ask their upstream for
	// usage; the API layer drops the usage chunk when the client did not ask.
	IncludeUsage bool
	// MaxTokens is max_completion_tokens, or max_tokens when that is absent;
	// zero when neither was sent.
	MaxTokens int
	// N is the number of choices requested (zero means one).
	N int
	// Seed is the client's seed, if any.
	Seed *int64
	// Stop holds the stop sequences.
	Stop []string
	// User is the end-user identifier the client sent.
	User string
	// Priority is the x-bulwark-priority header (critical, interactive or
	// batch) and ServiceTier OpenAI's service_tier field (flex, priority,
	// default, auto); the API layer fills them and the gateway's admission
	// control reads them (shed.Resolve). Empty means not sent.
	Priority    string
	ServiceTier string
	// ClientRetries is the retry number the client's SDK sent
	// (X-Stainless-Retry-Count): zero on its first try. The gateway spends
	// fewer retries of its own on a request its client is retrying.
	ClientRetries int
	// RequestID is the id the API gave the client request (X-Request-Id),
	// for the usage ledger; empty when there is none. It is never sent
	// upstream.
	RequestID string
	// NoCache and NoStore are the client's Cache-Control: no-cache (do
	// not answer from Bulwark's response cache, but cache the fresh
	// answer) and no-store (neither). Never sent upstream.
	NoCache bool
	NoStore bool
	// Body is the client's request JSON. Never nil for requests decoded from
	// the wire; providers that build their own body may ignore it.
	Body json.RawMessage
	// Continue asks a Continuer to continue the answer whose text so far is
	// the last message of Messages (an assistant message the gateway
	// appended; Body does not hold it): only the rest is streamed. Set only
	// by the gateway, only for targets that continue a prefix.
	Continue bool
}

// Message is one chat message. Content is the text of the message: a plain
// string, or the text parts of a multi-part content array joined together.
// The exact wire form stays in ChatRequest.Body.
type Message struct {
	Role       string
	Content    string
	Name       string
	ToolCallID string
}

// EmbedRequest is one embeddings call.
type EmbedRequest struct {
	Model string
	// Input is the list of texts to embed (a single string becomes one item).
	Input []string
	// Dimensions is the requested output dimension, zero for the model's own.
	Dimensions int
	User       string
	// Priority, ServiceTier, ClientRetries and RequestID are as for
	// ChatRequest.
	Priority      string
	ServiceTier   string
	ClientRetries int
	RequestID     string
	// Body is the client's request JSON, as for ChatRequest.
	Body json.RawMessage
}
