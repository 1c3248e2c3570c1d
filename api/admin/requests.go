package admin

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/reqlog"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Requests serves the request log (telemetry.request_log). It is safe for
// concurrent use.
type Requests struct {
	store reqlog.Store
}

// NewRequests returns the request log API over s; a nil s answers that
// the request log is disabled.
func NewRequests(s reqlog.Store) *Requests { return &Requests{store: s} }

// Routes returns the request log routes.
func (q *Requests) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"GET /admin/v1/requests":              q.list,
		"GET /admin/v1/requests/{request_id}": q.get,
	}
}

// maxRequestsPage bounds one page of GET /admin/v1/requests.
const maxRequestsPage = 500

// requestPage is the answer of GET /admin/v1/requests.
type requestPage struct {
	Object string          `json:"object"`
	Data   []reqlog.Record `json:"data"`
	// HasMore is set when older records match; NextCursor, passed as
	// after, lists them.
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// errorTypePattern is the form of an error type (an llm.Kind name or a
// gateway refusal such as model_not_found).
var errorTypePattern = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)

func (q *Requests) disabled(w http.ResponseWriter) bool {
	if q.store != nil {
		return false
	}
	api.WriteError(w, api.Errorf(http.StatusNotFound, api.TypeNotFound, "request_log_disabled",
		"the request log is disabled (telemetry.request_log.enabled)"))
	return true
}

// list answers GET /admin/v1/requests?tenant=&alias=&status=&since=&until=&limit=&after=,
// newest first. status is an HTTP status (429), ok, error, or an error
// type (timeout); since and until are RFC 3339 times or dates; after is
// the next_cursor of the previous page. An admin key of a tenant other
// than the default one sees only its own tenant's requests.
func (q *Requests) list(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if q.disabled(w) {
		return
	}
	f, err := requestFilter(r, p)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is another page
	recs, err := q.store.Requests(r.Context(), f)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	page := requestPage{Object: "list", Data: recs}
	if len(recs) > limit {
		page.Data, page.HasMore = recs[:limit], true
		page.NextCursor = reqlog.CursorOf(recs[limit-1]).String()
	}
	api.WriteJSON(w, http.StatusOK, page)
}

// requestFilter reads the query of GET /admin/v1/requests.
func requestFilter(r *http.Request, p tenant.Principal) (reqlog.Filter, error) {
	qs := r.URL.Query()
	f := reqlog.Filter{Tenant: qs.Get("tenant"), Alias: qs.Get("alias"), Limit: reqlog.DefaultLimit}
	if f.Tenant != "" {
		if err := checkTenantID("tenant", f.Tenant); err != nil {
			return f, err
		}
	}
	if p.TenantID != tenant.DefaultTenant {
		if f.Tenant != "" && f.Tenant != p.TenantID {
			return f, notFound(describe("tenant", f.Tenant))
		}
		f.Tenant = p.TenantID
	}
	if err := checkText("alias", f.Alias, maxModelLen); err != nil {
		return f, err
	}
	switch s := qs.Get("status"); {
	case s == "":
	case s == reqlog.ResultOK || s == reqlog.ResultError:
		f.Result = s
	case s[0] >= '0' && s[0] <= '9':
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return f, api.BadRequest("status", "status %q is not an HTTP status from 100 to 599", s)
		}
		f.Status = n
	case errorTypePattern.MatchString(s):
		f.Result = s
	default:
		return f, api.BadRequest("status", "status %q is not an HTTP status, ok, error or an error type such as timeout", s)
	}
	var err error
	if f.Since, err = parseWhen("since", qs.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseWhen("until", qs.Get("until")); err != nil {
		return f, err
	}
	if s := qs.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxRequestsPage {
			return f, api.BadRequest("limit", "limit %q is not a number from 1 to %d", s, maxRequestsPage)
		}
		f.Limit = n
	}
	if s := qs.Get("after"); s != "" {
		if f.After, err = reqlog.ParseCursor(s); err != nil {
			return f, api.BadRequest("after", "after %q is not a next_cursor this API returned", s)
		}
	}
	if err := f.Check(); err != nil {
		return f, api.BadRequest("until", "%s", err.Error())
	}
	return f, nil
}

// get answers GET /admin/v1/requests/{request_id}: the newest record of
// that request id, with its captured content if any.
func (q *Requests) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if q.disabled(w) {
		return
	}
	id := r.PathValue("request_id")
	if err := checkText("request_id", id, reqlog.MaxField); err != nil {
		api.WriteError(w, err)
		return
	}
	scope := ""
	if p.TenantID != tenant.DefaultTenant {
		scope = p.TenantID
	}
	rec, err := q.store.RequestByID(r.Context(), scope, id)
	if errors.Is(err, reqlog.ErrNotFound) {
		api.WriteError(w, notFound(describe("request", id)))
		return
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, rec)
}
