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

// Stream is an open streamed chat completion. It is used by one goroutine.
type Stream interface {
	// Recv returns the next chunk. It returns io.EOF after the upstream ended
	// the stream properly, and an *Error for anything else (a cut connection,
	// a malformed event, an error event, the context ending).
	Recv() (*Chunk, error)
	// Close releases the stream; it may be called at any time, more than once.
	Close() error
}
