package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// startKnowledge builds the knowledge bases over the store, when the store
// holds them (the embedded one does), and resumes the ingestion an earlier
// run left unfinished.
func (a *App) startKnowledge(ctx context.Context, cfg *config.Config) error {
	k := cfg.Knowledge
	if k.Disabled {
		return nil
	}
	repo, err := a.knowledgeRepo(ctx)
	if err != nil {
		a.log.Warn("knowledge bases are off", "reason", err.Error())
		return nil
	}
	var lease time.Duration
	if _, shared := repo.(*postgres.VectorDB); shared {
		// Replicas share the queue: each file is claimed by one, and a
		// dead replica's files are taken over within two leases.
		lease = ingestLease
	}
	a.kb = rag.NewService(repo, gatewayEmbedder{a.gw}, rag.Options{
		EmbedModel: k.EmbeddingModel, Workers: k.Workers, BatchInputs: k.BatchInputs, Log: a.log,
		RerankModel: k.RerankModel, Rerank: gatewayEmbedder{a.gw},
		IndexDir: filepath.Join(cfg.DataDir, "vectors"), Lease: lease,
	})
	if err := a.kb.Start(ctx); err != nil {
		a.kb.Close()
		a.kb = nil
		return fmt.Errorf("knowledge bases: %w", err)
	}
	a.gw.SetRetriever(kbRetriever{a.kb}) // grounded aliases (grounding.go)
	return nil
}

// ingestLease is how long a replica's claim on a file it ingests lasts
// without renewal (renewed every third of it) in the scaled shape.
const ingestLease = 15 * time.Second

// knowledgeRepo returns where the knowledge bases keep their state: the
// embedded store, or on Postgres the same database with pgvector, so
// that the replicas sharing it search one vector index. A Postgres
// without pgvector leaves them off: each replica would search an index of
// its own, blind to the others' chunks. One unreachable at start is set
// up when it is back.
func (a *App) knowledgeRepo(ctx context.Context) (rag.Repo, error) {
	if pg, ok := a.db.(*postgres.DB); ok {
		vdb, err := pg.WithVectors(ctx)
		switch {
		case err == nil:
			return vdb, nil
		case errors.Is(err, tenant.ErrUnavailable):
			// Set up once Postgres is back; meanwhile their calls are
			// 503s, as the rest of the store's are.
			a.log.Warn("knowledge bases wait for Postgres", "error", err.Error())
			return pg.LazyVectors(), nil
		default:
			return nil, fmt.Errorf("on Postgres they need the pgvector extension: %w", err)
		}
	}
	repo, ok := a.db.(rag.Repo)
	if !ok {
		return nil, errors.New("the store does not hold them")
	}
	return repo, nil
}

// knowledgeRoutes adds the Files and Vector Stores APIs to routes and
// returns the upload routes, when the knowledge bases are on.
func (a *App) knowledgeRoutes(cfg *config.Config, routes map[string]api.AuthedHandler) map[string]api.AuthedHandler {
	if a.kb == nil {
		return nil
	}
	k := openai.NewKnowledge(a.kb, cfg.Knowledge.MaxFileBytes)
	for p, h := range k.Routes() {
		routes[p] = h
	}
	return k.Uploads()
}

// gatewayEmbedder embeds the knowledge bases' chunks and queries, and
// reranks search results, through the gateway, as the store's tenant, at
// the priority the caller gives.
type gatewayEmbedder struct{ gw *gateway.Gateway }

func (e gatewayEmbedder) Embed(ctx context.Context, tenantID, model, priority string, inputs []string) ([][]float32, error) {
	p := tenant.Principal{TenantID: tenantID, Priority: priority}
	resp, _, err := e.gw.Embed(ctx, p, &llm.EmbedRequest{Model: model, Input: inputs, Priority: priority})
	if err != nil {
		return nil, busy(err)
	}
	return resp.Vectors, nil
}

func (e gatewayEmbedder) Rerank(ctx context.Context, tenantID, model, query string, docs []string) ([]float64, error) {
	p := tenant.Principal{TenantID: tenantID}
	resp, _, err := e.gw.Rerank(ctx, p, &llm.RerankRequest{Model: model, Query: query, Documents: docs})
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(docs))
	for _, r := range resp.Results {
		if r.Index >= 0 && r.Index < len(scores) {
			scores[r.Index] = r.Score
		}
	}
	return scores, nil
}

// busy marks the refusals that pass if waited out, so that ingestion waits
// instead of failing the file: admission control shedding (batch work is
// shed first), a rate limit, an upstream that failed in a way worth
// retrying after the gateway's own retries. A spent budget is not one: it
// would hold an ingestion worker until the budget's period ends.
func busy(err error) error {
	var se *shed.Error
	if errors.As(err, &se) {
		return &rag.Busy{RetryAfter: se.RetryAfter, Err: err}
	}
	var le *limit.Error
	if errors.As(err, &le) && !le.TooLarge {
		return &rag.Busy{RetryAfter: le.RetryAfter, Err: err}
	}
	var be *usage.BudgetError
	if errors.As(err, &be) {
		return &rag.Refusal{Reason: "embedding refused: " + be.Error(), Err: err}
	}
	var me *gateway.ModelError
	if errors.As(err, &me) {
		return &rag.Refusal{Reason: "embedding refused: " + me.Error(), Err: err}
	}
	var ue *llm.Error
	if errors.As(err, &ue) && ue.Kind.Retryable() {
		return &rag.Busy{RetryAfter: ue.RetryAfter, Err: err}
	}
	return err
}
