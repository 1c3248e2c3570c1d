package config

// Knowledge configures the knowledge bases: OpenAI's Files and Vector
// Stores APIs, ingestion and search. Zero values take the defaults.
type Knowledge struct {
	// Disabled removes the Files and Vector Stores APIs.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
	// EmbeddingModel is the alias new vector stores embed with (default:
	// the built-in local embedding model when it is present, else
	// sim-embed). Ingestion embeds through it at batch priority, so its
	// retries, breakers, fallbacks and adaptive limit apply.
	EmbeddingModel string `yaml:"embedding_model" json:"embedding_model,omitempty"`
	// RerankModel is the alias of a rerank model (a Cohere-style or TEI
	// /rerank endpoint) that searches rerank their fused results with,
	// unless a request's ranking_options.ranker is "none". Empty: no
	// rerank step.
	RerankModel string `yaml:"rerank_model" json:"rerank_model,omitempty"`
	// MaxFileBytes bounds an uploaded file (default 64 MiB).
	MaxFileBytes int64 `yaml:"max_file_bytes" json:"max_file_bytes,omitempty"`
	// Workers is how many files are ingested at once (default 4).
	Workers int `yaml:"workers" json:"workers,omitempty"`
	// BatchInputs is the most chunks embedded in one call (default 64).
	BatchInputs int `yaml:"batch_inputs" json:"batch_inputs,omitempty"`
	// BatchWorkers is how many lines of Batch API batches (/v1/batches,
	// whose input files are files of these knowledge bases) one process
	// runs at once (default 4).
	BatchWorkers int `yaml:"batch_workers" json:"batch_workers,omitempty"`
}

// Defaults of the knowledge bases.
const (
	DefaultMaxFileBytes = 64 << 20
	DefaultKBWorkers    = 4
	DefaultBatchInputs  = 64
	DefaultBatchWorkers = 4
)

// applyDefaults fills in the knowledge bases' defaults; models are the
// aliases configured, to pick the embedding model.
func (k *Knowledge) applyDefaults(c *Config) {
	if k.MaxFileBytes == 0 {
		k.MaxFileBytes = DefaultMaxFileBytes
	}
	if k.Workers == 0 {
		k.Workers = DefaultKBWorkers
	}
	if k.BatchInputs == 0 {
		k.BatchInputs = DefaultBatchInputs
	}
	if k.BatchWorkers == 0 {
		k.BatchWorkers = DefaultBatchWorkers
	}
	if k.EmbeddingModel == "" {
		for _, name := range []string{LocalEmbed, SimEmbed} {
			if c.model(name) != nil {
				k.EmbeddingModel = name
				break
			}
		}
	}
}

func (v *validator) knowledge(c *Config) {
	k := c.Knowledge
	if k.Disabled {
		return
	}
	if k.MaxFileBytes < 0 || k.MaxFileBytes > 1<<30 {
		v.add("knowledge.max_file_bytes", "must be from 1 to 1073741824 (1 GiB), got %d", k.MaxFileBytes)
	}
	if k.Workers < 0 || k.Workers > 64 {
		v.add("knowledge.workers", "must be from 1 to 64, got %d", k.Workers)
	}
	if k.BatchInputs < 0 || k.BatchInputs > 2048 {
		v.add("knowledge.batch_inputs", "must be from 1 to 2048, got %d", k.BatchInputs)
	}
	if k.BatchWorkers < 0 || k.BatchWorkers > 256 {
		v.add("knowledge.batch_workers", "must be from 1 to 256, got %d", k.BatchWorkers)
	}
	if k.EmbeddingModel != "" && c.model(k.EmbeddingModel) == nil {
		v.add("knowledge.embedding_model", "%q is not a model alias of this config", k.EmbeddingModel)
	}
	if k.RerankModel != "" && c.model(k.RerankModel) == nil {
		v.add("knowledge.rerank_model", "%q is not a model alias of this config", k.RerankModel)
	}
}
