package responses

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// DefaultRetention is how long a stored response is kept when the
// configuration does not say.
const DefaultRetention = 30 * 24 * time.Hour

// ErrNotFound is returned for a response that does not exist, belongs to
// another tenant or has expired.
var ErrNotFound = errors.New("response not found")

// Stored is one stored response.
type Stored struct {
	// ID is the response's id (resp_…), unique across tenants.
	ID       string
	TenantID string
	// Model is the alias the client asked for.
	Model     string
	CreatedAt time.Time
	// ExpiresAt is when the record stops being readable and may be purged.
	ExpiresAt time.Time
	// Input is the conversation before this response as a JSON array of
	// Responses API input items: the previous responses' input and output
	// items, then this request's input.
	Input json.RawMessage
	// Output is this response's output items, a JSON array.
	Output json.RawMessage
	// Response is the Response object as the client was given it, what
	// GET /v1/responses/{id} answers.
	Response json.RawMessage
}

// Store keeps stored responses. Implementations are safe for concurrent
// use.
type Store interface {
	// SaveResponse stores r; an id stored already is an error.
	SaveResponse(ctx context.Context, r *Stored) error
	// Response returns the tenant's response id, ErrNotFound when there is
	// none that has not expired at now.
	Response(ctx context.Context, tenantID, id string, now time.Time) (*Stored, error)
	// DeleteResponse deletes the tenant's response id, ErrNotFound when
	// there is none.
	DeleteResponse(ctx context.Context, tenantID, id string) error
	// PurgeResponses deletes the responses expired at now and returns how
	// many it deleted.
	PurgeResponses(ctx context.Context, now time.Time) (int, error)
}
