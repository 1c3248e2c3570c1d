package openai

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/limit"
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
	// streamWriteTimeout bounds one write of a stream (relay.go).
	streamWriteTimeout time.Duration
	// prompts resolves prompt references (prompt.go); nil: none.
	prompts PromptResolver
}

// New returns a Handler serving through gw. A zero timeout means none.
func New(gw *gateway.Gateway, timeout time.Duration, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{gw: gw, log: log, timeout: timeout, streamWriteTimeout: DefaultStreamWriteTimeout}
}

// Routes returns the API's routes for api.Options.API.
func (h *Handler) Routes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"POST /v1/chat/completions": h.chat,
		"POST /v1/embeddings":       h.embeddings,
		"POST /v1/rerank":           h.rerank,
		"GET /v1/models":            h.models,
		"GET /v1/models/{model}":    h.model,
	}
}

// failure returns what to tell the client about err, the failure of r:
// err marked with gateway.ErrShuttingDown (a 503) when it is the cancel of
// r by the server's shutdown, else err.
func failure(r *http.Request, err error) error {
	return gateway.CutByShutdown(r.Context(), err)
}

// setOutcome writes the headers that say how the call was served and what
// Bulwark cost, just before the response header goes out.
func setOutcome(w http.ResponseWriter, o gateway.Outcome) {
	api.SetServerTiming(w, o.Upstream)
	hdr := w.Header()
	if o.Attempts > 0 {
		hdr.Set(HeaderAttempts, strconv.Itoa(o.Attempts))
	}
	if o.Cache != "" {
		hdr.Set(gateway.HeaderCache, o.Cache)
	}
	setGrounding(hdr, o.Grounding)
	if skipped := o.GuardrailsSkipped(); skipped != "" {
		hdr.Set(gateway.HeaderGuardrailSkipped, skipped)
	}
	if rl := o.RateLimit; rl != nil {
		// OpenAI's x-ratelimit-* headers, for the dimensions that are
		// limited; resets are written as OpenAI does ("1s", "6m0s").
		for _, d := range []struct {
			name string
			st   limit.Status
		}{{"requests", rl.Requests}, {"tokens", rl.Tokens}} {
			if d.st.Limit > 0 {
				hdr.Set("x-ratelimit-limit-"+d.name, strconv.Itoa(d.st.Limit))
				hdr.Set("x-ratelimit-remaining-"+d.name, strconv.Itoa(max(d.st.Remaining, 0)))
				hdr.Set("x-ratelimit-reset-"+d.name, d.st.Reset.Round(time.Millisecond).String())
			}
		}
		if b := rl.Budget; b != nil {
			hdr.Set(gateway.HeaderBudgetRemaining, b.Header())
		}
	}
	if o.Target == nil {
		return
	}
	hdr.Set(HeaderTarget, o.Target.Name())
	api.Annotate(w, o.Alias, o.Target.Name())
}

// HeaderPriority sets a request's priority class.
const HeaderPriority = "X-Bulwark-Priority"

// priority returns the class the client asked for in the priority header,
// "" when it sent none. An unknown class is a 400: a typo must not
// silently demote or promote traffic.
func priority(r *http.Request) (string, error) {
	v := r.Header.Get(HeaderPriority)
	switch v {
	case "", "critical", "interactive", "batch":
		return v, nil
	}
	return "", api.BadRequest("", "the %s header must be critical, interactive or batch, not %q", HeaderPriority, v)
}
