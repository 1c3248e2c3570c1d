package llm

// Usage is the token accounting of one call.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// CachedTokens are prompt tokens the upstream served from its own prompt
	// cache (prompt_tokens_details.cached_tokens).
	CachedTokens int `json:"-"`
	// CacheWriteTokens are prompt tokens the upstream wrote to its prompt
	// cache on this call, which some vendors charge above the input price
	// (Anthropic's cache_creation_input_tokens, Bedrock's
	// cacheWriteInputTokens). Like CachedTokens they are part of
	// PromptTokens.
	CacheWriteTokens int `json:"-"`
}

// ChatResponse is a complete, non-streamed chat completion.
type ChatResponse struct {
	// Body is the response in OpenAI's chat.completion JSON format.
	Body []byte
	// Model is the model that answered, as the upstream named it.
	Model string
	// FinishReasons lists each choice's finish_reason in choice order.
	FinishReasons []string
	Usage         Usage
}

// Chunk is one event of a streamed chat completion.
type Chunk struct {
	// Data is the event in OpenAI's chat.completion.chunk JSON format,
	// without the "data: " prefix and the blank line.
	Data []byte
	// Model is the model that answered, when the chunk names it.
	Model string
	// HasContent reports whether the chunk carries output for the client
	// (content, a role, a tool call, a refusal or a finish reason) as opposed
	// to only usage.
	HasContent bool
	// FinishReason is set on the chunk that finishes a choice.
	FinishReason string
	// Usage is set on the usage chunk (normally the last one, with no
	// choices).
	Usage *Usage
}

// EmbedResponse is the result of an embeddings call.
type EmbedResponse struct {
	// Vectors holds one embedding per input, in input order.
	Vectors [][]float32
	// Model is the model that answered.
	Model string
	Usage Usage
}
