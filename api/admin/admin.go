package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Limits on what a client may send.
const (
	maxBodyBytes  = 64 << 10
	maxNameLen    = 200
	maxModels     = 256
	maxModelLen   = 256
	reloadTimeout = 10 * time.Second
)

// tenantIDPattern is the form of a tenant ID.
var tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// keyIDPattern bounds a key ID taken from a path: IDs are made by
// tenant.NewID.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// HandlerFunc is an admin route: it receives the authenticated Principal
// from the server.
type HandlerFunc = func(w http.ResponseWriter, r *http.Request, p tenant.Principal)

// Handler serves the admin API. It is safe for concurrent use.
type Handler struct {
	store tenant.Store
	keys  *tenant.Keyring
	log   *slog.Logger
	now   func() time.Time
	// models reports whether a model alias serves a tenant in the routing
	// table in force (SetModels); nil accepts every alias.
	models func(alias, tenantID string) bool
}

// New returns a Handler over store. keys is the Keyring the server
// authenticates with; it is reloaded after every change to keys. A nil log
// discards.
func New(store tenant.Store, keys *tenant.Keyring, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, keys: keys, log: log, now: time.Now}
}

// Routes returns the admin API's handlers keyed by ServeMux pattern. The
// caller wraps each with authentication and an admin check.
func (h *Handler) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"POST /admin/v1/tenants":          h.createTenant,
		"GET /admin/v1/tenants":           h.listTenants,
		"GET /admin/v1/tenants/{id}":      h.getTenant,
		"POST /admin/v1/keys":             h.createKey,
		"GET /admin/v1/keys":              h.listKeys,
		"GET /admin/v1/keys/{id}":         h.getKey,
		"POST /admin/v1/keys/{id}/revoke": h.revokeKey,
		"DELETE /admin/v1/keys/{id}":      h.revokeKey,
		"PATCH /admin/v1/tenants/{id}":    h.patchTenant,
		"PATCH /admin/v1/keys/{id}":       h.patchKey,
		"GET /admin/v1/audit":             h.listAudit,
		"POST /admin/v1/keys/{id}/rotate": h.rotateKey,
	}
}

// list is OpenAI's list envelope.
type list[T any] struct {
	Object string `json:"object"`
	Data   []T    `json:"data"`
}

func newList[T any](data []T) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Object: "list", Data: data}
}

// decode reads a small JSON body strictly into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	return api.DecodeJSON(r, v)
}

// fail answers err, logging it first if it is the server's fault.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p tenant.Principal, err error) {
	if e := api.AsError(err); e.Status >= http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "admin request failed",
			"method", r.Method, "path", r.URL.Path, "by_key", p.KeyID, "err", err)
	}
	api.WriteError(w, err)
}

// notFound is the 404 for what.
func notFound(what string) *api.Error {
	return api.Errorf(http.StatusNotFound, api.TypeNotFound, "not_found", "%s not found", what)
}

// storeError turns the store's sentinel errors about what into API errors.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, tenant.ErrNotFound):
		return notFound(what)
	case errors.Is(err, tenant.ErrExists):
		return api.Errorf(http.StatusConflict, api.TypeInvalidRequest, "already_exists", "%s already exists", what)
	}
	return err
}

// reload makes a change to keys take effect on this server. It runs to
// completion even if the client goes away: the change is already stored.
func (h *Handler) reload(r *http.Request) error {
	if h.keys == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reloadTimeout)
	defer cancel()
	return h.keys.Reload(ctx)
}

func checkTenantID(param, id string) error {
	if id == "" {
		return api.BadRequest(param, "%s is required", param)
	}
	if !tenantIDPattern.MatchString(id) {
		return api.BadRequest(param, "%s %q is invalid: use 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or digit", param, id)
	}
	return nil
}

func checkKeyID(id string) error {
	if !keyIDPattern.MatchString(id) {
		return api.BadRequest("id", "key id %q is invalid", id)
	}
	return nil
}

// checkText rejects a name or model alias that is too long, not UTF-8 or
// holds control characters.
func checkText(param, s string, maxLen int) error {
	if len(s) > maxLen {
		return api.BadRequest(param, "%s is longer than %d bytes", param, maxLen)
	}
	if !utf8.ValidString(s) {
		return api.BadRequest(param, "%s is not valid UTF-8", param)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return api.BadRequest(param, "%s contains a control character (%U)", param, c)
		}
	}
	return nil
}

func describe(kind, id string) string { return fmt.Sprintf("%s %q", kind, id) }
