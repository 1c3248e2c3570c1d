package openai

import up "github.com/bulwark-ai/bulwark/llm/upstream"

// Names the tests knew before the HTTP plumbing moved to llm/upstream.
var retryAfter = up.RetryAfter

const maxMessageBytes = up.MaxMessageBytes
