package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Background responses: POST /v1/responses with background: true is
// stored as a job (package job) and answered at once with the response
// queued; a worker runs it later through RunBackground, as the same key,
// under the same id. GET /v1/responses/{id} answers the job's status
// until it ends, then the stored response; POST /v1/responses/{id}/cancel
// cancels a background response that has not ended and returns one that
// has as it is; DELETE /v1/responses/{id} cancels one that has not ended
// (its run stops, or never starts) and deletes it, job and stored
// response. A background response must be stored (store: true, the
// default) and cannot be streamed.

// SetJobs turns background responses on, run by jobs.
func (rs *Responses) SetJobs(jobs *job.Service) { rs.jobs = jobs }

// checkBackground refuses what background mode does not take.
func checkBackground(r *responsesRequest) error {
	if !r.store {
		return api.BadRequest("store", "background responses must be stored: send store true or leave it out")
	}
	if r.stream {
		return api.BadRequest("stream", "streaming a background response is not supported by Bulwark; send stream false and poll GET /v1/responses/{id}")
	}
	return nil
}

// enqueue stores the background request rr as a job and answers the
// response queued.
func (rs *Responses) enqueue(w http.ResponseWriter, r *http.Request, p tenant.Principal, body []byte, rr *responsesRequest) {
	if rs.jobs == nil {
		api.WriteError(w, api.BadRequest("background", "background responses are off on this server (they need the embedded store or Postgres)"))
		return
	}
	t := &turn{rs: rs, tenantID: p.TenantID, req: rr, id: newID("resp_"), created: rs.now()}
	obj := t.response(nil, "", nil)
	obj.Status = string(job.Queued)
	queued, err := json.Marshal(obj)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if _, err := rs.jobs.Create(ctx, job.Job{ID: t.id, TenantID: p.TenantID, KeyID: p.KeyID, Kind: job.Response,
		Body: body, Pending: queued}, rs.retention); err != nil {
		api.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(queued)
}

// RunBackground answers a background response's request (the job's
// body) as the response id: the job's run.
func (rs *Responses) RunBackground(w http.ResponseWriter, r *http.Request, p tenant.Principal, id string) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	rr, err := decodeResponses(body)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	rs.serve(w, r, p, rr, id)
}

// ResponseOutcome is a background response's status from its run's
// answer: the response's own (completed, incomplete), or failed.
func ResponseOutcome(_ job.Job, r job.Result) job.Status {
	if r.StatusCode < 200 || r.StatusCode > 299 {
		return job.Failed
	}
	var o struct{ Status string }
	if json.Unmarshal(r.Body, &o) == nil && o.Status == string(job.Incomplete) {
		return job.Incomplete
	}
	return job.Completed
}

// backgroundJob returns the tenant's background response named in the
// path; ok false when there is none (a response that was not background).
func (rs *Responses) backgroundJob(r *http.Request, p tenant.Principal) (j job.Job, ok bool, err error) {
	if rs.jobs == nil {
		return j, false, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	j, err = rs.jobs.Job(ctx, p.TenantID, r.PathValue("id"))
	if errors.Is(err, job.ErrNotFound) || err == nil && j.Kind != job.Response {
		return j, false, nil
	}
	return j, err == nil, err
}

// getBackground answers GET for a background response, and reports
// whether it did.
func (rs *Responses) getBackground(w http.ResponseWriter, r *http.Request, p tenant.Principal) bool {
	j, ok, err := rs.backgroundJob(r, p)
	if err != nil {
		api.WriteError(w, err)
		return true
	}
	if !ok {
		return false
	}
	rs.writeJob(w, r, p, j)
	return true
}

// cancelBackground answers POST /v1/responses/{id}/cancel for a
// background response, and reports whether it did.
func (rs *Responses) cancelBackground(w http.ResponseWriter, r *http.Request, p tenant.Principal) bool {
	if _, ok, err := rs.backgroundJob(r, p); err != nil || !ok {
		if err != nil {
			api.WriteError(w, err)
		}
		return err != nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	j, err := rs.jobs.Cancel(ctx, p.TenantID, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, err)
		return true
	}
	rs.writeJob(w, r, p, j)
	return true
}

// deleteBackground answers DELETE /v1/responses/{id} for a background
// response, and reports whether it did. One that has not ended is
// cancelled (its end and its response.cancelled event are recorded
// once) and its run has stopped before the job and the stored response
// are deleted.
func (rs *Responses) deleteBackground(w http.ResponseWriter, r *http.Request, p tenant.Principal) bool {
	if _, ok, err := rs.backgroundJob(r, p); err != nil || !ok {
		if err != nil {
			api.WriteError(w, err)
		}
		return err != nil
	}
	id := r.PathValue("id")
	// The delete waits for a run in this process to stop.
	ctx, cancel := context.WithTimeout(r.Context(), 2*storeTimeout)
	defer cancel()
	_, err := rs.jobs.Delete(ctx, p.TenantID, id)
	if errors.Is(err, job.ErrNotFound) {
		err = notFound(id) // deleted meanwhile
	}
	if err == nil {
		err = rs.DropStored(ctx, p.TenantID, id)
	}
	if err != nil {
		api.WriteError(w, err)
		return true
	}
	api.WriteJSON(w, http.StatusOK, responseDeletedWire{ID: id, Object: "response", Deleted: true})
	return true
}

// DropStored deletes a tenant's stored response id, if there is one: the
// stored copy of a background response deleted, or cancelled while it
// ran (job.Options.Dropped).
func (rs *Responses) DropStored(ctx context.Context, tenantID, id string) error {
	if err := rs.store.DeleteResponse(ctx, tenantID, id); err != nil && !errors.Is(err, responses.ErrNotFound) {
		return err
	}
	return nil
}

// writeJob writes a background response as it stands: the stored
// response once it completed (a 404 once deleted), else the queued response with the job's
// status (and its error, when it failed).
func (rs *Responses) writeJob(w http.ResponseWriter, r *http.Request, p tenant.Principal, j job.Job) {
	w.Header().Set("Content-Type", "application/json")
	if j.Status == job.Completed || j.Status == job.Incomplete {
		// The stored response is the record (deleted: gone).
		st, err := rs.stored(r, p)
		if err != nil {
			w.Header().Del("Content-Type")
			api.WriteError(w, err)
			return
		}
		_, _ = w.Write(st.Response)
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(j.Pending, &obj); err != nil {
		api.WriteError(w, err)
		return
	}
	obj["status"], _ = json.Marshal(string(j.Status))
	if j.Status == job.Failed {
		var e struct {
			Error struct {
				Code    *string `json:"code"`
				Type    string  `json:"type"`
				Message string  `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(j.Result, &e)
		re := responseError{Code: e.Error.Type, Message: e.Error.Message}
		if e.Error.Code != nil && *e.Error.Code != "" {
			re.Code = *e.Error.Code
		}
		if re.Code == "" {
			re.Code = "server_error"
		}
		obj["error"], _ = json.Marshal(re)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	_, _ = w.Write(b)
}
