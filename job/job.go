package job

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/bulwark-ai/bulwark/webhook"
)

// Kind is what a job runs.
type Kind string

// The kinds.
const (
	// Response is a background response: POST /v1/responses.
	Response Kind = "response"
	// Chat is an async chat completion: POST /v1/chat/completions.
	Chat Kind = "chat.completion"
)

// Status is a job's state, as the Responses API names a background
// response's.
type Status string

// The statuses.
const (
	Queued     Status = "queued"
	InProgress Status = "in_progress"
	Completed  Status = "completed"
	Incomplete Status = "incomplete"
	Failed     Status = "failed"
	Cancelled  Status = "cancelled"
)

// Final reports whether a job in status s has ended.
func (s Status) Final() bool {
	switch s {
	case Completed, Incomplete, Failed, Cancelled:
		return true
	}
	return false
}

// Job is one asynchronous request of a tenant's, run as the key that
// sent it.
type Job struct {
	ID       string          `json:"id"`
	TenantID string          `json:"tenant_id"`
	KeyID    string          `json:"key_id"`
	Kind     Kind            `json:"kind"`
	Body     json.RawMessage `json:"body"`
	Status   Status          `json:"status"`
	// Pending is what the API answered when the job was queued.
	Pending json.RawMessage `json:"pending,omitempty"`
	// StatusCode and Result are the endpoint's answer once the job ended
	// (a cancelled job has none).
	StatusCode int             `json:"status_code,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	// Attempts is how many times a worker claimed the job.
	Attempts  int        `json:"attempts"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// ExpiresAt is when the job is purged, ended or not.
	ExpiresAt time.Time `json:"expires_at"`
}

// stored is a job's stored form: the request and answers as strings, so
// that a store that normalizes JSON (Postgres's jsonb) keeps them byte
// for byte.
type stored struct {
	Job
	Body    string `json:"body"`
	Pending string `json:"pending,omitempty"`
	Result  string `json:"result,omitempty"`
}

// Encode returns a job's stored form.
func Encode(j Job) ([]byte, error) {
	return json.Marshal(stored{Job: j, Body: string(j.Body), Pending: string(j.Pending), Result: string(j.Result)})
}

// Decode reads a job Encode wrote.
func Decode(b []byte) (Job, error) {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return Job{}, err
	}
	j := s.Job
	j.Body, j.Pending, j.Result = raw(s.Body), raw(s.Pending), raw(s.Result)
	return j, nil
}

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// Errors of the store.
var (
	// ErrNotFound: no such job, or another tenant's, or purged.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a job of that id exists.
	ErrConflict = errors.New("conflict")
)

// Store is the durable state of jobs. Every read a client makes names
// the tenant: another tenant's job is ErrNotFound. Implementations are
// safe for concurrent use; jobtest is their conformance suite.
type Store interface {
	// CreateJob stores a queued job.
	CreateJob(ctx context.Context, j Job) error
	// LoadJob returns a tenant's job.
	LoadJob(ctx context.Context, tenantID, id string) (Job, error)
	// ClaimJobs takes up to limit jobs, oldest first, that have not ended
	// and whose lease has run out (by the store's clock), leases each to
	// owner for ttl, counts the attempt and sets it in_progress.
	ClaimJobs(ctx context.Context, owner string, ttl time.Duration, limit int) ([]Job, error)
	// RenewJob extends owner's lease on a job for ttl; false when owner
	// does not hold it or the job has ended.
	RenewJob(ctx context.Context, id, owner string, ttl time.Duration) (bool, error)
	// ReleaseJobs gives up every lease owner holds (a process that
	// restarts under the same owner name).
	ReleaseJobs(ctx context.Context, owner string) error
	// FinishJob writes j's end (status, status code, result, times) and
	// records ev, in one transaction, when the stored job has not ended;
	// it reports whether it did.
	FinishJob(ctx context.Context, j Job, ev webhook.Event) (bool, error)
	// DeleteJob deletes a tenant's job, ended or not: ErrNotFound when
	// there is none. A worker holding it loses its lease (RenewJob is
	// false) and cannot record its end (FinishJob is false).
	DeleteJob(ctx context.Context, tenantID, id string) error
	// PurgeJobs deletes the jobs whose ExpiresAt is before now and
	// returns how many.
	PurgeJobs(ctx context.Context, now time.Time) (int, error)
}
