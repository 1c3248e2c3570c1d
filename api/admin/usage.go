package admin

import (
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// Usage serves the usage ledger's aggregates. It is safe for concurrent
// use.
type Usage struct {
	ledger usage.Ledger
}

// NewUsage returns the usage API over l.
func NewUsage(l usage.Ledger) *Usage { return &Usage{ledger: l} }

// Routes returns the usage routes.
func (u *Usage) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"GET /admin/v1/usage": u.query,
	}
}

// usageRows is the answer of GET /admin/v1/usage.
type usageRows struct {
	Object  string      `json:"object"`
	GroupBy usage.Group `json:"group_by"`
	Data    []usageRow  `json:"data"`
}

type usageRow struct {
	usage.Row
	// CostUSD is Cost in dollars, for reading; sums are made on Cost.
	CostUSD float64 `json:"cost_usd"`
}

// query answers GET /admin/v1/usage?tenant_id=&key_id=&alias=&from=&to=&group_by=.
// from and to are RFC 3339 times or dates (2006-01-02, UTC midnight); from
// is inclusive, to exclusive. An admin key of a tenant other than the
// default one sees only its own tenant's usage.
func (u *Usage) query(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	q := r.URL.Query()
	f := usage.Filter{Tenant: q.Get("tenant_id"), KeyID: q.Get("key_id"), Alias: q.Get("alias")}
	if f.Tenant != "" {
		if err := checkTenantID("tenant_id", f.Tenant); err != nil {
			api.WriteError(w, err)
			return
		}
	}
	if p.TenantID != tenant.DefaultTenant {
		if f.Tenant != "" && f.Tenant != p.TenantID {
			api.WriteError(w, notFound(describe("tenant", f.Tenant)))
			return
		}
		f.Tenant = p.TenantID
	}
	if f.KeyID != "" {
		if err := checkKeyID(f.KeyID); err != nil {
			api.WriteError(w, err)
			return
		}
	}
	if err := checkText("alias", f.Alias, maxModelLen); err != nil {
		api.WriteError(w, err)
		return
	}
	var err error
	if f.From, err = parseWhen("from", q.Get("from")); err != nil {
		api.WriteError(w, err)
		return
	}
	if f.To, err = parseWhen("to", q.Get("to")); err != nil {
		api.WriteError(w, err)
		return
	}
	if f.GroupBy, err = usage.ParseGroup(q.Get("group_by")); err != nil {
		api.WriteError(w, api.BadRequest("group_by", "%s", err.Error()))
		return
	}
	if err := f.Check(); err != nil {
		api.WriteError(w, api.BadRequest("to", "%s", err.Error()))
		return
	}
	rows, err := u.ledger.Query(r.Context(), f)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	out := usageRows{Object: "list", GroupBy: f.GroupBy, Data: make([]usageRow, len(rows))}
	for i, row := range rows {
		out.Data[i] = usageRow{Row: row, CostUSD: row.Cost.Dollars()}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// parseWhen parses a from or to parameter: empty, an RFC 3339 time or a
// UTC date.
func parseWhen(param, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(usage.DayFormat, s); err == nil {
		return t, nil
	}
	return time.Time{}, api.BadRequest(param, "%s %q is not an RFC 3339 time or a date (2006-01-02)", param, s)
}
