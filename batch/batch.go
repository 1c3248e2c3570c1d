package batch

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Status is a batch's state, as OpenAI's Batch API names it.
type Status string

// The statuses.
const (
	Validating Status = "validating"
	InProgress Status = "in_progress"
	Finalizing Status = "finalizing"
	Completed  Status = "completed"
	Failed     Status = "failed"
	Expired    Status = "expired"
	Cancelling Status = "cancelling"
	Cancelled  Status = "cancelled"
)

// Final reports whether a batch in status s is done.
func (s Status) Final() bool {
	switch s {
	case Completed, Failed, Expired, Cancelled:
		return true
	}
	return false
}

// DefaultEndpoints are the endpoints a batch may run unless
// Options.Endpoints says otherwise.
var DefaultEndpoints = []string{"/v1/chat/completions", "/v1/embeddings"}

// Batch is a job of requests from an input file. It belongs to the tenant
// of the key that created it, and runs as that key.
type Batch struct {
	ID       string
	TenantID string
	KeyID    string
	// Endpoint is the url every line calls.
	Endpoint         string
	InputFileID      string
	CompletionWindow string
	Metadata         map[string]string
	Status           Status
	// Errors are the input file's problems (a batch that failed
	// validation).
	Errors []LineError
	// OutputFileID and ErrorFileID are the files written when the batch
	// ended; empty when there is nothing to write.
	OutputFileID string
	ErrorFileID  string
	// Total is the number of lines.
	Total     int
	CreatedAt time.Time
	ExpiresAt time.Time
	Times     Times
	// Counts are the lines done (filled in by reads).
	Counts Counts
}

// Times are when a batch entered each status; nil: it did not.
type Times struct {
	InProgress, Finalizing, Completed, Failed, Expired, Cancelling, Cancelled *time.Time
}

// Counts are a batch's lines by outcome.
type Counts struct {
	Total, Completed, Failed int
}

// LineError is a problem with a line, or a line's failure.
type LineError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param,omitempty"`
	Line    *int    `json:"line,omitempty"`
}

// Line is one request of a batch: the index of its line in the input file
// (from 0) and what it asks.
type Line struct {
	Index    int
	CustomID string
	URL      string
	Body     json.RawMessage
}

// Result is what a line came to: the endpoint's response (StatusCode and
// Body), or an Error when there was none.
type Result struct {
	Index      int
	CustomID   string
	RequestID  string
	StatusCode int
	Body       json.RawMessage
	Error      *LineError
	// RetryAfter is how long the endpoint asked to wait before the line
	// is tried again (its Retry-After); not stored.
	RetryAfter time.Duration `json:"-"`
	// Busy marks a refusal that passes if waited out (a rate limit,
	// admission control shedding batch work): the line waits RetryAfter
	// and is tried again, without limit, until the batch's window ends.
	Busy bool `json:"-"`
}

// OK reports whether the line succeeded.
func (r Result) OK() bool { return r.Error == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// Page is a cursor over a list of batches, newest first: up to Limit after
// the batch After.
type Page struct {
	Limit int
	After string
}

// Errors of the store.
var (
	// ErrNotFound: no such batch, or another tenant's.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the batch is in a status that forbids the change.
	ErrConflict = errors.New("conflict")
)

// Store is the durable state of batches. Every read a client makes names
// the tenant: another tenant's batch is ErrNotFound. Implementations are
// safe for concurrent use; batchtest is their conformance suite. (Its
// methods name batches because the backends' DB types implement
// rag.Repo too, whose Batch, Claim and Release are file batches'.)
type Store interface {
	// CreateBatch stores a batch with its lines.
	CreateBatch(ctx context.Context, b Batch, lines []Line) error
	// LoadBatch returns a tenant's batch with its counts.
	LoadBatch(ctx context.Context, tenantID, id string) (Batch, error)
	// ListBatches lists a tenant's batches, newest first, and whether there
	// are more.
	ListBatches(ctx context.Context, tenantID string, p Page) ([]Batch, bool, error)
	// UpdateBatch writes b's status, errors, file ids and times when its
	// stored status is one of from, and reports whether it did.
	UpdateBatch(ctx context.Context, b Batch, from ...Status) (bool, error)
	// ActiveBatches lists every tenant's batches not done, oldest first: the
	// queue after a restart.
	ActiveBatches(ctx context.Context) ([]Batch, error)
	// BatchTodo returns up to limit of a batch's lines that have no result,
	// with an index above after, in order.
	BatchTodo(ctx context.Context, batchID string, after, limit int) ([]Line, error)
	// PutBatchResult stores a line's result unless it has one, and reports
	// whether it stored it.
	PutBatchResult(ctx context.Context, batchID string, r Result) (bool, error)
	// BatchResults calls fn with a batch's results in line order.
	BatchResults(ctx context.Context, batchID string, fn func(Result) error) error
	// ClaimBatch takes or renews owner's lease on a batch not done for ttl (by
	// the store's clock): false while another owner holds a lease that
	// has not run out, and when the batch is done.
	ClaimBatch(ctx context.Context, batchID, owner string, ttl time.Duration) (bool, error)
	// ReleaseBatch gives up owner's lease on a batch.
	ReleaseBatch(ctx context.Context, batchID, owner string) error
}
