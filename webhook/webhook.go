package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Event types, as OpenAI's webhooks name them (and Bulwark's own for
// async chat completions, which OpenAI does not have).
const (
	BatchCompleted     = "batch.completed"
	BatchFailed        = "batch.failed"
	BatchCancelled     = "batch.cancelled"
	BatchExpired       = "batch.expired"
	ResponseCompleted  = "response.completed"
	ResponseFailed     = "response.failed"
	ResponseCancelled  = "response.cancelled"
	ResponseIncomplete = "response.incomplete"
	ChatCompleted      = "chat.completion.completed"
	ChatFailed         = "chat.completion.failed"
	ChatCancelled      = "chat.completion.cancelled"
)

// Types are every event type, for the configuration's check.
var Types = []string{BatchCompleted, BatchFailed, BatchCancelled, BatchExpired,
	ResponseCompleted, ResponseFailed, ResponseCancelled, ResponseIncomplete,
	ChatCompleted, ChatFailed, ChatCancelled}

// Event is something that happened to an object of a tenant's (a batch,
// a response, an async chat completion) that endpoints may be told of.
type Event struct {
	// ID is the event's id (evt_…), derived from its type and object, so
	// that an event written twice is one event. It is each delivery's
	// webhook-id.
	ID        string
	Type      string
	TenantID  string
	ObjectID  string
	CreatedAt time.Time
}

// NewEvent returns the event of type typ about a tenant's object.
func NewEvent(typ, tenantID, objectID string, at time.Time) Event {
	sum := sha256.Sum256([]byte(typ + "\x00" + objectID))
	return Event{ID: "evt_" + hex.EncodeToString(sum[:16]), Type: typ, TenantID: tenantID, ObjectID: objectID, CreatedAt: at.UTC()}
}

// Payload is the body of the event's deliveries, as OpenAI's webhooks
// write it: {"id","object":"event","type","created_at","data":{"id"}}.
func (e Event) Payload() []byte {
	b, _ := json.Marshal(struct {
		ID        string `json:"id"`
		Object    string `json:"object"`
		Type      string `json:"type"`
		CreatedAt int64  `json:"created_at"`
		Data      struct {
			ID string `json:"id"`
		} `json:"data"`
	}{ID: e.ID, Object: "event", Type: e.Type, CreatedAt: e.CreatedAt.Unix(), Data: struct {
		ID string `json:"id"`
	}{ID: e.ObjectID}})
	return b
}

// State is a delivery's state.
type State string

// The states.
const (
	// Pending: not delivered yet; sent when NextAt comes.
	Pending State = "pending"
	// Delivered: an attempt had a 2xx answer.
	Delivered State = "delivered"
	// Dead: MaxAttempts attempts failed; only a retry sends it again.
	Dead State = "dead"
)

// States are the states, for a filter's check.
var States = []State{Pending, Delivered, Dead}

// Delivery is an event's delivery to one endpoint, and its log.
type Delivery struct {
	// ID names the delivery in the admin API (whd_…), derived from the
	// event and the endpoint.
	ID       string `json:"id"`
	EventID  string `json:"event_id"`
	Type     string `json:"type"`
	TenantID string `json:"tenant_id"`
	// Endpoint is the endpoint's URL.
	Endpoint string `json:"endpoint"`
	// Payload is the body sent.
	Payload  json.RawMessage `json:"payload"`
	State    State           `json:"state"`
	Attempts int             `json:"attempts"`
	// NextAt is when the next attempt is due (pending deliveries).
	NextAt time.Time `json:"next_attempt_at"`
	// LastStatus is the last attempt's HTTP status, 0 when it had none;
	// LastError what went wrong with it.
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// NewDelivery returns e's pending delivery to endpoint, due at now.
func NewDelivery(e Event, endpoint string, now time.Time) Delivery {
	sum := sha256.Sum256([]byte(e.ID + "\x00" + endpoint))
	return Delivery{ID: "whd_" + hex.EncodeToString(sum[:16]), EventID: e.ID, Type: e.Type, TenantID: e.TenantID,
		Endpoint: endpoint, Payload: e.Payload(), State: Pending, NextAt: now, CreatedAt: now, UpdatedAt: now}
}

// IndexedAt is the time a store keeps a delivery under: NextAt while it
// is pending (ClaimDeliveries looks for the due ones), UpdatedAt once it
// is delivered or dead (PurgeDeliveries looks for the old ones).
func (d Delivery) IndexedAt() time.Time {
	if d.State == Pending || d.UpdatedAt.IsZero() {
		return d.NextAt
	}
	return d.UpdatedAt
}

// Page is a cursor over the delivery log, newest first: up to Limit
// after the delivery After, of State when set.
type Page struct {
	State State
	Limit int
	After string
}

// Errors of the store.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Store is the outbox and the delivery log. Implementations are safe for
// concurrent use; replicas sharing a store share the work.
type Store interface {
	// PutEvent records an event unless it is recorded (for writers that
	// have no transaction of their own to record it in).
	PutEvent(ctx context.Context, e Event) error
	// NewEvents returns up to limit events not fanned out, oldest first.
	NewEvents(ctx context.Context, limit int) ([]Event, error)
	// FanOut stores an event's deliveries, those stored already left as
	// they are, and marks the event fanned out, in one transaction.
	FanOut(ctx context.Context, e Event, ds []Delivery) error
	// ClaimDeliveries returns up to limit pending deliveries due at now,
	// and moves each one's NextAt to now+lease, so that no other replica
	// sends it while this one does.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// UpdateDelivery writes a delivery's state and log.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// Deliveries lists the delivery log, newest first, and whether there
	// is more.
	Deliveries(ctx context.Context, p Page) ([]Delivery, bool, error)
	// RetryDelivery makes a dead delivery pending again, due at now, with
	// its attempts counted from zero: ErrNotFound, or ErrConflict when it
	// is not dead.
	RetryDelivery(ctx context.Context, id string, now time.Time) (Delivery, error)
	// PurgeDeliveries deletes the delivered and dead deliveries whose
	// UpdatedAt is before before, then the events fanned out and created
	// before it that have no delivery left, and returns how many
	// deliveries it deleted. Pending deliveries, and the events they are
	// of, stay.
	PurgeDeliveries(ctx context.Context, before time.Time) (int, error)
}

// BatchEvent returns the event of a batch's entering status (batch.Status
// as a string), and an event without an id, which is none, for a status
// that is not an end.
func BatchEvent(tenantID, batchID, status string, at time.Time) Event {
	switch status {
	case "completed", "failed", "cancelled", "expired":
		return NewEvent("batch."+status, tenantID, batchID, at)
	}
	return Event{}
}
