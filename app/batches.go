package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
)

// batchEndpoints are the urls a batch may run, when the API serves them.
var batchEndpoints = []string{"/v1/chat/completions", "/v1/embeddings", "/v1/responses"}

// batchRoutes builds the Batch API over the store and adds its routes to
// routes, when the store holds batches and the knowledge bases (whose
// files are batches' input and output) are on. Its lines run through the
// API's own handlers in routes, so that they are served as the same
// requests sent to the API would be. startBatches starts running them.
func (a *App) batchRoutes(cfg *config.Config, routes map[string]api.AuthedHandler) {
	if a.kb == nil {
		return
	}
	store, ok := a.db.(batch.Store)
	if !ok {
		return
	}
	files, ok := a.db.(batchFileRepo)
	if !ok {
		return
	}
	handlers := map[string]api.AuthedHandler{}
	var endpoints []string
	for _, e := range batchEndpoints {
		if h, ok := routes[http.MethodPost+" "+e]; ok {
			handlers[e] = h
			endpoints = append(endpoints, e)
		}
	}
	o := batch.Options{Workers: cfg.Knowledge.BatchWorkers, Endpoints: endpoints, Log: a.log}
	if _, shared := a.db.(*postgres.DB); !shared {
		// One process has the data directory: a restart takes over the
		// leases of the run before it at once.
		o.Owner = "local"
	}
	a.batches = batch.New(store, batchExecutor{keys: a.keys, handlers: handlers}, batchFiles{files}, o)
	for p, h := range openai.NewBatches(a.batches).Routes() {
		routes[p] = h
	}
}

// startBatches resumes the batches an earlier run left unfinished and
// runs new ones.
func (a *App) startBatches(ctx context.Context) error {
	if a.batches == nil {
		return nil
	}
	return a.batches.Start(ctx)
}

// batchFileRepo is what batches need of the store's files.
type batchFileRepo interface {
	PutFile(ctx context.Context, f rag.File, content []byte) error
	File(ctx context.Context, tenantID, id string) (rag.File, error)
	FileContent(ctx context.Context, tenantID, id string) ([]byte, error)
}

// batchFiles are the Files API's files, for batches.
type batchFiles struct{ repo batchFileRepo }

func (f batchFiles) File(ctx context.Context, tenantID, id string) (string, []byte, error) {
	file, err := f.repo.File(ctx, tenantID, id)
	if errors.Is(err, rag.ErrNotFound) {
		return "", nil, fmt.Errorf("%w: %w", batch.ErrNotFound, err)
	}
	if err != nil {
		return "", nil, err
	}
	content, err := f.repo.FileContent(ctx, tenantID, id)
	if errors.Is(err, rag.ErrNotFound) {
		return "", nil, fmt.Errorf("%w: %w", batch.ErrNotFound, err)
	}
	return file.Purpose, content, err
}

func (f batchFiles) Put(ctx context.Context, tenantID, id, filename, purpose string, content []byte) error {
	sum := sha256.Sum256(content)
	err := f.repo.PutFile(ctx, rag.File{ID: id, TenantID: tenantID, Filename: filename, Purpose: purpose,
		Bytes: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), CreatedAt: time.Now().UTC()}, content)
	if errors.Is(err, rag.ErrConflict) {
		return nil // written by an earlier finalization
	}
	return err
}

// batchExecutor runs a batch's line as the batch's key at batch priority,
// through the API's handler of the line's url: the gateway's limits,
// budgets, fallbacks and usage apply as to the same request sent to the
// API.
type batchExecutor struct {
	keys     *tenant.Keyring
	handlers map[string]api.AuthedHandler // by url
}

func (e batchExecutor) Execute(ctx context.Context, b batch.Batch, l batch.Line) batch.Result {
	p, err := e.keys.Principal(b.KeyID)
	if err == nil && p.TenantID != b.TenantID {
		err = tenant.ErrUnknownKey
	}
	if err != nil {
		return batch.Result{Error: &batch.LineError{Code: "invalid_api_key",
			Message: fmt.Sprintf("the key that created the batch cannot make requests: %v", err)}}
	}
	h, ok := e.handlers[l.URL]
	if !ok {
		return batch.Result{Error: &batch.LineError{Code: "invalid_url", Message: "unsupported url " + l.URL}}
	}
	p.Priority = "batch"
	id := newBatchRequestID()
	// A line takes only a target's spare capacity: it never waits in a
	// target's queue in front of live requests (shed/spare.go).
	req := httptest.NewRequestWithContext(shed.SpareOnly(ctx), http.MethodPost, l.URL, bytes.NewReader(l.Body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.HeaderRequestID, id)
	rec := httptest.NewRecorder()
	h(rec, req, p)
	body := rec.Body.Bytes()
	if !json.Valid(body) {
		body, _ = json.Marshal(string(body))
	}
	res := batch.Result{StatusCode: rec.Code, RequestID: id, Body: body}
	res.RetryAfter, res.Busy = refusal(rec)
	return res
}

// refusal reads an answer's Retry-After and whether the refusal passes if
// waited out: a 429 or 503 that says when to come back (a rate limit,
// admission control shedding the work), unless it is a budget spent —
// that fails the line or job, as it fails ingestion (knowledge.go).
func refusal(rec *httptest.ResponseRecorder) (retryAfter time.Duration, busy bool) {
	s, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0, false
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	busy = (rec.Code == http.StatusTooManyRequests || rec.Code == http.StatusServiceUnavailable) && e.Error.Code != "budget_exceeded"
	return time.Duration(s) * time.Second, busy
}

func newBatchRequestID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "req_batch"
	}
	return "req_" + hex.EncodeToString(b[:])
}
