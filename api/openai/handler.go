package openai

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
)

// Response headers that say how a call was served.
const (
	HeaderTarget   = "X-Bulwark-Target"
	HeaderAttempts = "X-Bulwark-Attempts"
)

// Handler serves the OpenAI-compatible API. It is safe for concurrent use.
type Handler struct {
	gw  *gateway.Gateway
	log *slog.Logger
	// timeout bounds one request, streams included.
	timeout time.Duration
}

// New returns a Handler serving through gw. A zero timeout means none.
func New(gw *gateway.Gateway, timeout time.Duration, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{gw: gw, log: log, timeout: timeout}
}

// Routes returns the API's routes for api.Options.API.
func (h *Handler) Routes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"POST /v1/chat/completions": h.chat,
		"POST /v1/embeddings":       h.embeddings,
		"GET /v1/models":            h.models,
		"GET /v1/models/{model}":    h.model,
	}
}

func (h *Handler) context(r *http.Request) (context.Context, context.CancelFunc) {
	if h.timeout > 0 {
		return context.WithTimeout(r.Context(), h.timeout)
	}
	return context.WithCancel(r.Context())
}

// setOutcome writes the headers that say how the call was served and what
// Bulwark cost, just before the response header goes out.
func setOutcome(w http.ResponseWriter, o gateway.Outcome) {
	api.SetServerTiming(w, o.Upstream)
	hdr := w.Header()
	if o.Attempts > 0 {
		hdr.Set(HeaderAttempts, strconv.Itoa(o.Attempts))
	}
	if o.Target == nil {
		return
	}
	hdr.Set(HeaderTarget, o.Target.Name())
	api.Annotate(w, o.Alias, o.Target.Name())
}
