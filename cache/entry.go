package cache

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// Entry is one cached answer: a non-streamed chat completion (Body) or
// the chunks of a streamed one (Chunks), as the upstream sent them.
type Entry struct {
	// Stored is when the answer was cached.
	Stored time.Time `json:"stored"`
	// Target is the provider/model that produced it.
	Target string `json:"target"`

	// A non-streamed answer.
	Body          []byte   `json:"body,omitempty"`
	Model         string   `json:"model,omitempty"`
	FinishReasons []string `json:"finish_reasons,omitempty"`
	Usage         Usage    `json:"usage"`

	// A streamed answer, usage chunk included.
	Chunks []Chunk `json:"chunks,omitempty"`
}

// Usage is llm.Usage with every field kept.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	CachedTokens     int `json:"cached_tokens,omitempty"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// UsageOf and LLM convert between Usage and llm.Usage.
func UsageOf(u llm.Usage) Usage {
	return Usage{u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CachedTokens, u.CacheWriteTokens}
}

func (u Usage) LLM() llm.Usage {
	return llm.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens,
		CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens}
}

// Chunk is one llm.Chunk of a streamed answer.
type Chunk struct {
	Data         []byte `json:"data"`
	Model        string `json:"model,omitempty"`
	HasContent   bool   `json:"has_content,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
	Usage        *Usage `json:"usage,omitempty"`
}

// ChunkOf copies c (its Data too: the caller may reuse it).
func ChunkOf(c *llm.Chunk) Chunk {
	k := Chunk{Data: slices.Clone(c.Data), Model: c.Model, HasContent: c.HasContent, FinishReason: c.FinishReason}
	if c.Usage != nil {
		u := UsageOf(*c.Usage)
		k.Usage = &u
	}
	return k
}

// LLM returns the chunk as an llm.Chunk.
func (c Chunk) LLM() *llm.Chunk {
	k := &llm.Chunk{Data: c.Data, Model: c.Model, HasContent: c.HasContent, FinishReason: c.FinishReason}
	if c.Usage != nil {
		u := c.Usage.LLM()
		k.Usage = &u
	}
	return k
}

// Size is roughly how many bytes the chunk adds to an encoded entry.
func (c Chunk) Size() int { return len(c.Data)*4/3 + len(c.Model) + len(c.FinishReason) + 128 }

// ChatResponse returns a non-streamed entry as the gateway returns it.
func (e *Entry) ChatResponse() *llm.ChatResponse {
	return &llm.ChatResponse{Body: e.Body, Model: e.Model, FinishReasons: e.FinishReasons, Usage: e.Usage.LLM()}
}

// StreamUsage returns what a streamed entry reported: its model, its
// finish reasons and its usage.
func (e *Entry) StreamUsage() (model string, finish []string, u llm.Usage) {
	for _, c := range e.Chunks {
		if model == "" {
			model = c.Model
		}
		if c.FinishReason != "" {
			finish = append(finish, c.FinishReason)
		}
		if c.Usage != nil {
			u = c.Usage.LLM()
		}
	}
	return model, finish, u
}

// Encode returns the entry as a backend stores it.
func (e *Entry) Encode() ([]byte, error) { return json.Marshal(e) }

// Decode reads an entry Encode wrote. A value that is not one is an
// error; a backend's corrupt value is served as a miss.
func Decode(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode cache entry: %w", err)
	}
	if len(e.Body) == 0 && len(e.Chunks) == 0 {
		return nil, fmt.Errorf("decode cache entry: empty")
	}
	return &e, nil
}

// Complete reports whether finish reasons say an answer of n choices
// ended as it should be cached: every choice finished (stop, length or
// tool_calls; not content_filter, not an error, not unfinished).
func Complete(finish []string, n int) bool {
	if len(finish) != max(n, 1) {
		return false
	}
	for _, f := range finish {
		switch f {
		case "stop", "length", "tool_calls":
		default:
			return false
		}
	}
	return true
}
