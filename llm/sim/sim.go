package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

var (
	_ llm.Provider  = (*Sim)(nil)
	_ llm.Continuer = (*Sim)(nil)
)

// Errors of the fault-control API (SetFaults, Faults), for callers that map
// them to HTTP statuses.
var (
	// ErrUnknownModel: the simulator serves no model of that name.
	ErrUnknownModel = errors.New("unknown model")
	// ErrInvalidFaults: the fault configuration cannot be applied.
	ErrInvalidFaults = errors.New("invalid faults")
)

// Defaults of the config.SimModel fields whose zero value means "default".
const (
	defaultOutputMin    = 16
	defaultOutputMax    = 64
	defaultDimensions   = 256
	defaultOverCapacity = http.StatusTooManyRequests
)

// Sim is a simulated model vendor serving the models it was built with. It
// is safe for concurrent use; its models' faults may be changed while it
// serves.
type Sim struct {
	name        string
	models      map[string]*model
	sorted      []*model // by name
	fingerprint string
	handler     http.Handler
	continues   bool // declared to continue prefixes (SetContinuesPrefix)
}

// model is one simulated model: its configuration with defaults applied
// (immutable), its faults (replaced atomically), its generator and its
// limiters.
type model struct {
	name     string
	nameJSON []byte // name as a JSON string
	embed    bool
	rerank   bool   // a rerank model (rerank.go): it serves no chat or embeddings
	key      uint64 // mixes the seed and the name into every hash
	ttft     latency
	itl      latency
	outMin   int
	outMax   int
	window   int // context window in tokens, 0: unlimited
	dims     int
	overCap  int // status answered beyond capacity
	gate     *gate
	limits   *limiter
	faults   atomic.Pointer[faultSet]
	// load and kvTokens are what GET /metrics reports (metrics.go).
	load     load
	kvTokens int

	mu  sync.Mutex // guards pcg
	pcg rand.PCG
}

// New returns a simulator serving models; name is the provider's name in
// Bulwark's configuration (it appears in every error as llm.Error.Provider)
// and seed makes the simulator deterministic (see the package doc). A nil
// or empty models map serves config.DefaultSimModels(). The map is copied.
func New(name string, seed int64, models map[string]config.SimModel) *Sim {
	if len(models) == 0 {
		models = config.DefaultSimModels()
	}
	s := &Sim{
		name:        name,
		models:      make(map[string]*model, len(models)),
		fingerprint: fmt.Sprintf("fp_%010x", mix(uint64(seed))>>24),
	}
	for n, cfg := range models {
		m := newModel(n, seed, cfg)
		s.models[n] = m
		s.sorted = append(s.sorted, m)
	}
	slices.SortFunc(s.sorted, func(a, b *model) int { return strings.Compare(a.name, b.name) })
	s.handler = s.routes()
	return s
}

func newModel(name string, seed int64, cfg config.SimModel) *model {
	nameJSON, _ := json.Marshal(name) // a string always marshals
	m := &model{
		name:     name,
		nameJSON: nameJSON,
		embed:    cfg.Kind == config.SimKindEmbedding,
		rerank:   cfg.Kind == config.SimKindRerank,
		key:      mix(uint64(seed) ^ hashString(hashSeed, name)),
		ttft:     newLatency(cfg.TTFT),
		itl:      newLatency(cfg.ITL),
		outMin:   cfg.OutputTokens.Min,
		outMax:   cfg.OutputTokens.Max,
		window:   max(cfg.ContextWindow, 0),
		dims:     cfg.Dimensions,
		overCap:  cfg.OverCapacityStatus,
		kvTokens: cfg.KVCacheTokens,
	}
	if m.outMin == 0 && m.outMax == 0 {
		m.outMin, m.outMax = defaultOutputMin, defaultOutputMax
	}
	m.outMin = max(m.outMin, 1)
	m.outMax = max(m.outMax, m.outMin)
	if m.dims <= 0 {
		m.dims = defaultDimensions
	}
	if m.overCap < 400 || m.overCap > 599 {
		m.overCap = defaultOverCapacity
	}
	if cfg.MaxConcurrency > 0 {
		m.gate = newGate(cfg.MaxConcurrency, max(cfg.Queue, 0))
	}
	if cfg.RPM > 0 || cfg.TPM > 0 {
		m.limits = &limiter{rpm: max(cfg.RPM, 0), tpm: max(cfg.TPM, 0)}
	}
	m.faults.Store(compileFaults(cfg.Faults))
	m.pcg.Seed(uint64(seed), hashString(hashSeed, name))
	return m
}

// draw takes the next value of the model's generator: one per request, in
// arrival order.
func (m *model) draw() uint64 {
	m.mu.Lock()
	v := m.pcg.Uint64()
	m.mu.Unlock()
	return v
}

// SetContinuesPrefix declares whether the simulator is to be used to
// continue answers from a prefix (llm.Continuer). It continues one when
// asked either way; the declaration is what the gateway goes by. Call it
// before the simulator is in use.
func (s *Sim) SetContinuesPrefix(on bool) { s.continues = on }

// ContinuesPrefix reports what SetContinuesPrefix declared.
func (s *Sim) ContinuesPrefix() bool { return s.continues }

// Handler returns the simulator's standalone HTTP API: OpenAI's, with the
// vendors' own forms beside it:
//
//	POST /v1/chat/completions
//	POST /v1/embeddings
//	POST /v1/rerank                      Cohere's and Jina's rerank API (rerank.go)
//	POST /v1/messages                    Anthropic's Messages API (anthropic.go)
//	POST /v1beta/models/{model}:{method} Gemini's API (gemini.go)
//	POST /model/{id}/converse            Bedrock's Converse, converse-stream, invoke (bedrock.go)
//	GET  /v1/models
//	GET  /v1/models/{model}
//	GET  /metrics                        the load, under vLLM's metric names (metrics.go)
//	GET  /sim/v1/models/{model}/faults   the model's faults (config.Faults JSON)
//	PUT  /sim/v1/models/{model}/faults   replace them (the same JSON)
//
// Authorization headers are accepted and ignored. A model name containing
// "/" is written %2F in the fault-control paths.
func (s *Sim) Handler() http.Handler { return s.handler }

// SetFaults replaces the faults of model; requests that arrive afterwards
// draw from the new faults. The error wraps ErrUnknownModel or
// ErrInvalidFaults.
func (s *Sim) SetFaults(model string, f config.Faults) error {
	m, ok := s.models[model]
	if !ok {
		return fmt.Errorf("set faults of %q: %w", model, ErrUnknownModel)
	}
	if err := validateFaults(f); err != nil {
		return fmt.Errorf("set faults of %q: %w", model, err)
	}
	m.faults.Store(compileFaults(f))
	return nil
}

// Faults returns a copy of the faults model runs with. The error wraps
// ErrUnknownModel.
func (s *Sim) Faults(model string) (config.Faults, error) {
	m, ok := s.models[model]
	if !ok {
		return config.Faults{}, fmt.Errorf("faults of %q: %w", model, ErrUnknownModel)
	}
	return cloneFaults(m.faults.Load().cfg), nil
}

// lookup finds the model a request names, checking that it serves the
// request's kind of call.
func (s *Sim) lookup(name string, embed bool) (*model, *llm.Error) {
	m, ok := s.models[name]
	if !ok {
		return nil, &llm.Error{
			Kind: llm.KindNotFound, Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "model_not_found",
			Message:  fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", name),
			Provider: s.name, Model: name,
		}
	}
	if m.rerank || m.embed != embed {
		msg := fmt.Sprintf("The model `%s` is an embedding model and does not support chat completions.", name)
		switch {
		case m.rerank && embed:
			msg = fmt.Sprintf("The model `%s` is a rerank model and does not support embeddings.", name)
		case m.rerank:
			msg = fmt.Sprintf("The model `%s` is a rerank model and does not support chat completions.", name)
		case embed:
			msg = fmt.Sprintf("The model `%s` is a chat model and does not support embeddings.", name)
		}
		return nil, &llm.Error{
			Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: typeInvalidRequest,
			Param: "model", Code: "model_not_supported", Message: msg, Provider: s.name, Model: name,
		}
	}
	return m, nil
}
