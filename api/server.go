package api

import (
	"errors"
	"log/slog"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/bulwark-ai/bulwark/tenant"
)

// AuthedHandler handles a request made by an authenticated principal.
type AuthedHandler func(w http.ResponseWriter, r *http.Request, p tenant.Principal)

// Authenticator turns a presented key secret into a principal.
type Authenticator interface {
	Authenticate(secret string) (tenant.Principal, error)
}

// Options configure the server's handler.
type Options struct {
	Auth Authenticator
	Log  *slog.Logger
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes int64
	// API routes are callable by any valid key; Admin routes by admin keys
	// only. Keys are ServeMux patterns with a method ("POST /v1/embeddings").
	API   map[string]AuthedHandler
	Admin map[string]AuthedHandler
	// Public routes need no key (health, readiness).
	Public map[string]http.HandlerFunc
	// Uploads are API routes that take files (multipart uploads): their
	// bodies are bounded by MaxUploadBytes instead of MaxBodyBytes.
	Uploads        map[string]AuthedHandler
	MaxUploadBytes int64
}

// NewHandler builds the server's whole handler. The middleware order, from
// the outside in, is: request id → access log → recover → route (405/404
// in OpenAI's format, or Anthropic's for its requests: IsAnthropic; a 404
// for unclean paths) → body
// limit (the route's: uploads have their own) → authenticate → handler.
func NewHandler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	routes := map[string]map[string]http.Handler{} // path → method → handler
	add := func(pattern string, h http.Handler) {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			panic("api: route pattern without a method: " + pattern)
		}
		if routes[path] == nil {
			routes[path] = map[string]http.Handler{}
		}
		routes[path][method] = h
	}
	for p, h := range o.Public {
		add(p, limitBody(o.MaxBodyBytes, h))
	}
	for p, h := range o.API {
		add(p, limitBody(o.MaxBodyBytes, authenticate(o.Auth, false, h)))
	}
	for p, h := range o.Uploads {
		add(p, limitBody(o.MaxUploadBytes, authenticate(o.Auth, false, h)))
	}
	for p, h := range o.Admin {
		add(p, limitBody(o.MaxBodyBytes, authenticate(o.Auth, true, h)))
	}
	mux := http.NewServeMux()
	for path, methods := range routes {
		mux.Handle(path, byMethod(methods))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteErrorFor(w, r, Errorf(http.StatusNotFound, TypeInvalidRequest, "unknown_url",
			"unknown request URL: %s %s; see /v1/chat/completions, /v1/messages, /v1/embeddings, /v1/rerank, /v1/models, /v1/files and /v1/vector_stores", r.Method, r.URL.Path))
	})
	var h http.Handler = uncleanPaths(mux)
	h = recoverPanics(o.Log, h)
	h = accessLog(o.Log, h)
	h = requestID(h)
	return h
}

// uncleanPaths answers a path with . or .. elements or repeated slashes
// with a 404 in OpenAI's format, where ServeMux would redirect to the
// cleaned path with an HTML body: an API client follows no such redirect
// (a POST's body would be lost), and "/admin/v1/keys/../tenants" should
// not reach another route by any means.
func uncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "" && p != "*" && cleanPath(p) != p {
			WriteErrorFor(w, r, Errorf(http.StatusNotFound, TypeInvalidRequest, "unknown_url",
				"unknown request URL: %s %s: the path has empty, . or .. segments", r.Method, p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is p as ServeMux cleans it: path.Clean, rooted, keeping a
// trailing slash.
func cleanPath(p string) string {
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// byMethod dispatches on the method and answers 405 in OpenAI's format.
func byMethod(methods map[string]http.Handler) http.Handler {
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := methods[r.Method]; ok {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodHead {
			if h, ok := methods[http.MethodGet]; ok {
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", allow)
		WriteErrorFor(w, r, Errorf(http.StatusMethodNotAllowed, TypeInvalidRequest, "method_not_allowed",
			"%s is not allowed on %s; use %s", r.Method, r.URL.Path, allow))
	})
}

// KeyFromRequest returns the key a client presented: a bearer token, or
// the x-api-key or api-key header as some SDKs send it.
func KeyFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	return r.Header.Get("Api-Key")
}

func authenticate(auth Authenticator, admin bool, h AuthedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := KeyFromRequest(r)
		if secret == "" {
			WriteErrorFor(w, r, Errorf(http.StatusUnauthorized, TypeInvalidRequest, "missing_api_key",
				"no API key provided: send it as \"Authorization: Bearer <key>\" or \"x-api-key: <key>\""))
			return
		}
		p, err := auth.Authenticate(secret)
		if err != nil {
			WriteErrorFor(w, r, authError(err))
			return
		}
		if rec := recordOf(w); rec != nil {
			rec.tenant, rec.key = p.TenantID, p.KeyID
		}
		if admin && !p.Admin {
			WriteErrorFor(w, r, Errorf(http.StatusForbidden, TypePermission, "admin_required",
				"this key may not call the admin API"))
			return
		}
		h(w, r, p)
	})
}

func authError(err error) *Error {
	msg := "the API key is not valid"
	switch {
	case errors.Is(err, tenant.ErrRevokedKey):
		msg = "the API key has been revoked"
	case errors.Is(err, tenant.ErrExpiredKey):
		msg = "the API key has expired"
	}
	return Errorf(http.StatusUnauthorized, TypeInvalidRequest, "invalid_api_key", "%s", msg)
}
