package llm

import "context"

// Provider is a model vendor's API. Implementations are safe for concurrent
// use. Every error they return is an *Error.
type Provider interface {
	// Chat performs a non-streaming chat completion.
	Chat(ctx context.Context, req *ChatRequest) (*ChatResponse, error)
	// Stream starts a streaming chat completion. It returns once the upstream
	// has accepted the request (headers received), so that an error before
	// the first event is returned here and can still be retried.
	Stream(ctx context.Context, req *ChatRequest) (Stream, error)
	// Embed computes embeddings.
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}

// Continuer is a Provider that can continue an answer from a prefix: given
// a streaming request with Continue set, whose last message is the
// assistant's text so far, it streams only the rest of that answer. It is
// optional (found by type assertion) and declared in configuration: a
// provider that accepts a trailing assistant message but starts a new
// answer (OpenAI's own API) must not claim it.
type Continuer interface {
	ContinuesPrefix() bool
}

// Stream is an open streamed chat completion. It is used by one goroutine.
type Stream interface {
	// Recv returns the next chunk. It returns io.EOF after the upstream ended
	// the stream properly, and an *Error for anything else (a cut connection,
	// a malformed event, an error event, the context ending).
	Recv() (*Chunk, error)
	// Close releases the stream; it may be called at any time, more than once.
	Close() error
}
