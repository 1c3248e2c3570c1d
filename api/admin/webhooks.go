package admin

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/webhook"
)

// Webhooks serves the webhook delivery log: GET
// /admin/v1/webhooks/deliveries?state=pending|delivered|dead&limit=&after=
// (newest first) and POST /admin/v1/webhooks/deliveries/{id}/retry, which
// sends a dead delivery again. The endpoints are the operator's, so only
// an operator's admin key may use them. It is safe for concurrent use.
type Webhooks struct {
	store webhook.Store
	poke  func() // wakes the dispatcher; may be nil
	now   func() time.Time
}

// NewWebhooks returns the delivery log API over store; poke, when not nil,
// is called after a retry so that it is sent at once.
func NewWebhooks(store webhook.Store, poke func()) *Webhooks {
	return &Webhooks{store: store, poke: poke, now: time.Now}
}

// Routes returns the delivery log routes.
func (h *Webhooks) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"GET /admin/v1/webhooks/deliveries":             h.list,
		"POST /admin/v1/webhooks/deliveries/{id}/retry": h.retry,
	}
}

type deliveryPage struct {
	Object  string             `json:"object"`
	Data    []webhook.Delivery `json:"data"`
	HasMore bool               `json:"has_more"`
	// LastID, passed as after, lists the next page.
	LastID string `json:"last_id,omitempty"`
}

func (h *Webhooks) list(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if !operator(p) {
		api.WriteError(w, operatorOnly("read the webhook deliveries"))
		return
	}
	q := r.URL.Query()
	pg := webhook.Page{State: webhook.State(q.Get("state")), Limit: 50, After: q.Get("after")}
	if pg.State != "" && !slices.Contains(webhook.States, pg.State) {
		api.WriteError(w, api.BadRequest("state", "state must be pending, delivered or dead, got %q", pg.State))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			api.WriteError(w, api.BadRequest("limit", "limit must be a number from 1 to 500, got %q", v))
			return
		}
		pg.Limit = n
	}
	ds, more, err := h.store.Deliveries(r.Context(), pg)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	page := deliveryPage{Object: "list", Data: ds, HasMore: more}
	if page.Data == nil {
		page.Data = []webhook.Delivery{}
	}
	if len(ds) > 0 {
		page.LastID = ds[len(ds)-1].ID
	}
	api.WriteJSON(w, http.StatusOK, page)
}

func (h *Webhooks) retry(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if !operator(p) {
		api.WriteError(w, operatorOnly("retry webhook deliveries"))
		return
	}
	d, err := h.store.RetryDelivery(r.Context(), r.PathValue("id"), h.now())
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.TypeNotFound, "not_found", "no such webhook delivery"))
		return
	case errors.Is(err, webhook.ErrConflict):
		api.WriteError(w, api.Errorf(http.StatusConflict, api.TypeInvalidRequest, "conflict",
			"only a dead delivery can be retried; this one is %s", d.State))
		return
	case err != nil:
		api.WriteError(w, err)
		return
	}
	if h.poke != nil {
		h.poke()
	}
	api.WriteJSON(w, http.StatusOK, d)
}
