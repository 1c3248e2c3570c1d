package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/tenant"
)

// HeaderAsync asks for an async chat completion: POST
// /v1/chat/completions with X-Bulwark-Async: true is stored as a job
// (package job) and answered at once, 202 Accepted, with the job and its
// poll URL (also in Location); GET /v1/chat/completions/async/{id}
// answers the job, with the chat completion once it completed, until the
// retention passes; POST /v1/chat/completions/async/{id}/cancel cancels a
// job that has not ended; DELETE /v1/chat/completions/async/{id} cancels
// one that has not ended (its run stops, or never starts) and deletes
// it with its result. It is for clients that cannot move to the
// Responses API's background mode; a streamed request cannot be async.
const HeaderAsync = "X-Bulwark-Async"

// AsyncChat serves async chat completions. It is safe for concurrent use.
type AsyncChat struct {
	jobs      *job.Service
	retention time.Duration
}

// NewAsyncChat returns async chat completions run by jobs, kept for
// retention.
func NewAsyncChat(jobs *job.Service, retention time.Duration) *AsyncChat {
	return &AsyncChat{jobs: jobs, retention: retention}
}

// Routes returns the poll, cancel and delete routes.
func (a *AsyncChat) Routes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"GET /v1/chat/completions/async/{id}":         a.get,
		"POST /v1/chat/completions/async/{id}/cancel": a.cancel,
		"DELETE /v1/chat/completions/async/{id}":      a.delete,
	}
}

// Wrap returns the chat completions route: a request with X-Bulwark-Async
// true is queued, any other served by chat.
func (a *AsyncChat) Wrap(chat api.AuthedHandler) api.AuthedHandler {
	return func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
		switch v := strings.ToLower(strings.TrimSpace(r.Header.Get(HeaderAsync))); v {
		case "", "false", "0":
			chat(w, r, p)
		case "true", "1":
			a.create(w, r, p)
		default:
			api.WriteError(w, api.BadRequest("", "%s must be true or false", HeaderAsync))
		}
	}
}

// asyncChatWire is an async chat completion job as the API answers it.
type asyncChatWire struct {
	ID          string          `json:"id"`
	Object      string          `json:"object"`
	Status      job.Status      `json:"status"`
	URL         string          `json:"url"`
	CreatedAt   int64           `json:"created_at"`
	CompletedAt *int64          `json:"completed_at"`
	ExpiresAt   int64           `json:"expires_at"`
	StatusCode  *int            `json:"status_code"`
	Response    json.RawMessage `json:"response"`
	Error       json.RawMessage `json:"error"`
}

func wireAsyncChat(j job.Job) asyncChatWire {
	w := asyncChatWire{ID: j.ID, Object: "chat.completion.job", Status: j.Status, URL: "/v1/chat/completions/async/" + j.ID,
		CreatedAt: j.CreatedAt.Unix(), CompletedAt: unixPtr(j.EndedAt), ExpiresAt: j.ExpiresAt.Unix(),
		Response: json.RawMessage("null"), Error: json.RawMessage("null")}
	if j.StatusCode != 0 {
		code := j.StatusCode
		w.StatusCode = &code
	}
	switch {
	case j.Status == job.Completed && json.Valid(j.Result):
		w.Response = j.Result
	case j.Status == job.Failed:
		var e struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(j.Result, &e) == nil && len(e.Error) > 0 {
			w.Error = e.Error
		} else {
			w.Error, _ = json.Marshal(map[string]any{"message": "the request failed", "type": api.TypeServer, "code": nil})
		}
	}
	return w
}

func (a *AsyncChat) create(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	var peek struct {
		Stream *bool           `json:"stream"`
		Prompt json.RawMessage `json:"prompt"`
	}
	if err := json.Unmarshal(body, &peek); err != nil {
		api.WriteError(w, api.BadRequest("", "the body must be a JSON object: %v", err))
		return
	}
	if peek.Stream != nil && *peek.Stream {
		api.WriteError(w, api.BadRequest("stream", "an async chat completion cannot be streamed: send stream false with %s: true", HeaderAsync))
		return
	}
	if len(peek.Prompt) == 0 {
		// Checked now, so that a bad request is a 400 at once; one with
		// a prompt reference is checked when it runs.
		if _, err := decodeChat(body); err != nil {
			api.WriteError(w, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	j, err := a.jobs.Create(ctx, job.Job{ID: job.NewID("chatjob_"), TenantID: p.TenantID, KeyID: p.KeyID, Kind: job.Chat, Body: body}, a.retention)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	wj := wireAsyncChat(j)
	w.Header().Set("Location", wj.URL)
	api.WriteJSON(w, http.StatusAccepted, wj)
}

func asyncNotFound(id string) error {
	return api.Errorf(http.StatusNotFound, api.TypeInvalidRequest, "not_found", "Async chat completion with id '%s' not found.", id)
}

// get serves an async chat completion job.
func (a *AsyncChat) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	a.serveJob(w, r, p, false)
}

// cancel cancels an async chat completion job and serves it.
func (a *AsyncChat) cancel(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	a.serveJob(w, r, p, true)
}

// delete deletes an async chat completion job with its result. One that
// has not ended is cancelled first (its end and its
// chat.completion.cancelled event are recorded once) and its run has
// stopped before the job is deleted.
func (a *AsyncChat) delete(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	// The delete waits for a run in this process to stop.
	ctx, done := context.WithTimeout(r.Context(), 2*storeTimeout)
	defer done()
	j, err := a.jobs.Job(ctx, p.TenantID, id)
	if err == nil && j.Kind != job.Chat {
		err = job.ErrNotFound
	}
	if err == nil {
		_, err = a.jobs.Delete(ctx, p.TenantID, id)
	}
	if errors.Is(err, job.ErrNotFound) {
		err = asyncNotFound(id) // none, or deleted meanwhile
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, responseDeletedWire{ID: id, Object: "chat.completion.deleted", Deleted: true})
}

// serveJob serves the principal's chat job with the request's id, first
// cancelling it when cancel is set; a job of another kind is not found.
func (a *AsyncChat) serveJob(w http.ResponseWriter, r *http.Request, p tenant.Principal, cancel bool) {
	ctx, done := context.WithTimeout(r.Context(), storeTimeout)
	defer done()
	id := r.PathValue("id")
	j, err := a.jobs.Job(ctx, p.TenantID, id)
	if err == nil && j.Kind != job.Chat {
		err = job.ErrNotFound
	}
	if err == nil && cancel {
		j, err = a.jobs.Cancel(ctx, p.TenantID, id)
	}
	if errors.Is(err, job.ErrNotFound) {
		err = asyncNotFound(id)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, wireAsyncChat(j))
}
