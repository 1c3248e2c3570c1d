package config

import (
	"time"
)

// AliasKnowledge binds an alias to knowledge bases: every chat request to
// it (Chat Completions, Responses, Messages) is grounded in the chunks of
// the vector stores that best match its last user message, given to the
// model in a system message, and the answer carries citations.
//
// Retrieval is a dependency with its own resilience: it has a deadline
// inside the request's, a breaker and a bound on concurrent searches per
// alias, and OnFailure says what a failed, late or refused search does.
type AliasKnowledge struct {
	// VectorStoreIDs are the stores searched (vs_…), at least one.
	VectorStoreIDs []string `yaml:"vector_store_ids" json:"vector_store_ids"`
	// Tenant owns the stores; "" searches the calling tenant's stores
	// with those ids (another tenant's store is then not found).
	Tenant string `yaml:"tenant" json:"tenant,omitempty"`
	// MaxNumResults is how many chunks the model gets at most (default 5,
	// at most 50).
	MaxNumResults int `yaml:"max_num_results" json:"max_num_results,omitempty"`
	// MinScore drops chunks scoring below it (0 to 1; 0 keeps all).
	MinScore float64 `yaml:"min_score" json:"min_score,omitempty"`
	// Timeout bounds a search (default 2s), inside the request's deadline.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// OnFailure is what a search that fails, times out or is refused
	// does: "fail" (the default) answers 503 retrieval_unavailable with
	// the reason; "answer" answers without context, marked degraded.
	OnFailure string `yaml:"on_failure" json:"on_failure,omitempty"`
	// MaxConcurrent bounds the alias's searches in flight (default 32); a
	// search beyond it is refused at once.
	MaxConcurrent int `yaml:"max_concurrent" json:"max_concurrent,omitempty"`
}

// What a failed retrieval does (AliasKnowledge.OnFailure).
const (
	RetrievalFail   = "fail"
	RetrievalAnswer = "answer"
)

// Defaults of AliasKnowledge.
const (
	DefaultKnowledgeResults    = 5
	MaxKnowledgeResults        = 50
	DefaultKnowledgeTimeout    = 2 * time.Second
	DefaultKnowledgeConcurrent = 32
)

// Enabled reports whether the alias is bound to knowledge.
func (k AliasKnowledge) Enabled() bool { return len(k.VectorStoreIDs) > 0 }

// Effective returns k with its defaults filled in.
func (k AliasKnowledge) Effective() AliasKnowledge {
	if k.MaxNumResults <= 0 {
		k.MaxNumResults = DefaultKnowledgeResults
	}
	if k.Timeout <= 0 {
		k.Timeout = Duration(DefaultKnowledgeTimeout)
	}
	if k.OnFailure == "" {
		k.OnFailure = RetrievalFail
	}
	if k.MaxConcurrent <= 0 {
		k.MaxConcurrent = DefaultKnowledgeConcurrent
	}
	return k
}

// aliasKnowledge checks every alias's knowledge binding.
func (v *validator) aliasKnowledge(c *Config) {
	for i, m := range c.Models {
		k := m.Knowledge
		path := childIndex("models", i) + ".knowledge"
		if !k.Enabled() {
			if k.Tenant != "" || k.MaxNumResults != 0 || k.MinScore != 0 || k.Timeout != 0 || k.OnFailure != "" || k.MaxConcurrent != 0 {
				v.add(path+".vector_store_ids", "is required when knowledge is set")
			}
			continue
		}
		for j, id := range k.VectorStoreIDs {
			if id == "" || len(id) > 128 {
				v.add(childIndex(path+".vector_store_ids", j), "must be a vector store id (vs_…)")
			}
		}
		if k.MaxNumResults < 0 || k.MaxNumResults > MaxKnowledgeResults {
			v.add(path+".max_num_results", "must be between 1 and %d (0: %d)", MaxKnowledgeResults, DefaultKnowledgeResults)
		}
		if k.MinScore < 0 || k.MinScore > 1 {
			v.add(path+".min_score", "must be between 0 and 1")
		}
		v.duration(path+".timeout", k.Timeout)
		v.oneOf(path+".on_failure", k.OnFailure, []string{RetrievalFail, RetrievalAnswer})
		v.nonNegative(path+".max_concurrent", int64(k.MaxConcurrent))
	}
}
