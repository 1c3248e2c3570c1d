package openai

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/batch"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Batches serves OpenAI's Batch API. Every batch is the calling key's
// tenant's; another tenant's is not found. It is safe for concurrent use.
type Batches struct {
	svc *batch.Service
}

// NewBatches returns the Batch API over svc.
func NewBatches(svc *batch.Service) *Batches { return &Batches{svc: svc} }

// Routes returns the Batch API's routes.
func (b *Batches) Routes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"POST /v1/batches":             b.create,
		"GET /v1/batches":              b.list,
		"GET /v1/batches/{id}":         b.get,
		"POST /v1/batches/{id}/cancel": b.cancel,
	}
}

// batchError maps a batch error to the API's.
func batchError(err error) error {
	var inv *batch.Invalid
	switch {
	case errors.As(err, &inv):
		return api.BadRequest(inv.Param, "%s", inv.Message)
	case errors.Is(err, batch.ErrNotFound):
		return api.Errorf(http.StatusNotFound, api.TypeInvalidRequest, "not_found", "no such batch")
	case errors.Is(err, batch.ErrConflict):
		return api.Errorf(http.StatusConflict, api.TypeInvalidRequest, "conflict", "%s", conflictMessage(err))
	}
	return err
}

type createBatchWire struct {
	InputFileID      string            `json:"input_file_id"`
	Endpoint         string            `json:"endpoint"`
	CompletionWindow string            `json:"completion_window"`
	Metadata         map[string]string `json:"metadata"`
}

type jobWire struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Endpoint         string            `json:"endpoint"`
	Errors           *jobErrorsWire    `json:"errors"`
	InputFileID      string            `json:"input_file_id"`
	CompletionWindow string            `json:"completion_window"`
	Status           string            `json:"status"`
	OutputFileID     *string           `json:"output_file_id"`
	ErrorFileID      *string           `json:"error_file_id"`
	CreatedAt        int64             `json:"created_at"`
	InProgressAt     *int64            `json:"in_progress_at"`
	ExpiresAt        *int64            `json:"expires_at"`
	FinalizingAt     *int64            `json:"finalizing_at"`
	CompletedAt      *int64            `json:"completed_at"`
	FailedAt         *int64            `json:"failed_at"`
	ExpiredAt        *int64            `json:"expired_at"`
	CancellingAt     *int64            `json:"cancelling_at"`
	CancelledAt      *int64            `json:"cancelled_at"`
	RequestCounts    requestCountsWire `json:"request_counts"`
	Metadata         map[string]string `json:"metadata"`
}

type jobErrorsWire struct {
	Object string            `json:"object"`
	Data   []batch.LineError `json:"data"`
}

type requestCountsWire struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func wireJob(b batch.Batch) jobWire {
	w := jobWire{ID: b.ID, Object: "batch", Endpoint: b.Endpoint, InputFileID: b.InputFileID, CompletionWindow: b.CompletionWindow,
		Status: string(b.Status), OutputFileID: strPtr(b.OutputFileID), ErrorFileID: strPtr(b.ErrorFileID), CreatedAt: b.CreatedAt.Unix(),
		InProgressAt: unixPtr(b.Times.InProgress), ExpiresAt: unixPtr(&b.ExpiresAt), FinalizingAt: unixPtr(b.Times.Finalizing),
		CompletedAt: unixPtr(b.Times.Completed), FailedAt: unixPtr(b.Times.Failed), ExpiredAt: unixPtr(b.Times.Expired),
		CancellingAt: unixPtr(b.Times.Cancelling), CancelledAt: unixPtr(b.Times.Cancelled),
		RequestCounts: requestCountsWire{Total: b.Counts.Total, Completed: b.Counts.Completed, Failed: b.Counts.Failed},
		Metadata:      b.Metadata}
	if len(b.Errors) > 0 {
		w.Errors = &jobErrorsWire{Object: "list", Data: b.Errors}
	}
	return w
}

func (b *Batches) create(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req createBatchWire
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	if err := checkMetadata(req.Metadata); err != nil {
		api.WriteError(w, err)
		return
	}
	bt, err := b.svc.Create(r.Context(), p.TenantID, p.KeyID, req.Endpoint, req.InputFileID, req.CompletionWindow, req.Metadata)
	if err != nil {
		api.WriteError(w, batchError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireJob(bt))
}

func (b *Batches) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	bt, err := b.svc.Batch(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, batchError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireJob(bt))
}

func (b *Batches) cancel(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	bt, err := b.svc.Cancel(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, batchError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireJob(bt))
}

func (b *Batches) list(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	q := r.URL.Query()
	pg := batch.Page{Limit: 20, After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			api.WriteError(w, api.BadRequest("limit", "limit must be a number from 1 to 100, got %q", v))
			return
		}
		pg.Limit = n
	}
	bs, more, err := b.svc.Batches(r.Context(), p.TenantID, pg)
	if err != nil {
		api.WriteError(w, batchError(err))
		return
	}
	out := make([]jobWire, len(bs))
	for i, bt := range bs {
		out[i] = wireJob(bt)
	}
	api.WriteJSON(w, http.StatusOK, list(out, func(b jobWire) string { return b.ID }, more))
}
