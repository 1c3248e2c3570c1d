package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

func (h *Handler) chat(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	body, rp, err := h.withPrompt(body, p)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	req, err := decodeChat(body)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if rp != nil {
		p = promptPrincipal(p, rp.Version)
		w.Header().Set(HeaderPrompt, fmt.Sprintf("%s@%d", rp.Version.PromptID, rp.Version.Number))
	}
	h.serveChat(w, r, p, req, nil)
}

// serveChat serves a decoded chat request in OpenAI's format (d nil) or
// d's.
func (h *Handler) serveChat(w http.ResponseWriter, r *http.Request, p tenant.Principal, req *llm.ChatRequest, d Dialect) {
	writeError := api.WriteError
	if d != nil {
		writeError = d.WriteError
	}
	e, err := readEdge(r)
	if err != nil {
		writeError(w, err)
		return
	}
	req.Priority, req.ClientRetries = e.priority, e.retries
	req.NoCache, req.NoStore = cacheControl(r.Header)
	api.Annotate(w, req.Model, "")
	req.RequestID = api.RequestID(w) // for the usage ledger
	if req.Stream {
		h.stream(w, r, p, req, e.timeout, d)
		return
	}
	ctx, cancel := h.context(r, e.timeout)
	defer cancel()
	resp, out, err := h.gw.Chat(ctx, p, req)
	setOutcome(w, out)
	if err != nil {
		writeError(w, failure(r, err))
		return
	}
	if d != nil {
		d.WriteCompletion(w, resp)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(withGrounding(resp.Body, out.Grounding))
}

// stream relays a streamed completion as server-sent events. The gateway
// returns the stream once an attempt produced its first content, retrying
// and failing over until then, so the header normally goes out with that
// content and an error before it is an ordinary JSON error response with
// its status. A long wait for the first content sends SSE comment
// heartbeats, which send the header early: after one, an error is an error
// event. Either way, an error after the header ends the stream with an
// error event and no [DONE]; so does the server's shutdown cutting the
// stream short (gateway.ErrShuttingDown: a server_shutting_down event).
//
// The client's timeout (clientTimeout, zero when it stated none) bounds
// the stream's start — its first content — as the SDKs' own timeouts do
// (Node's stops at the response's first bytes, Python's counts between
// reads); the whole stream stays bounded by server.request_timeout and
// the alias's timeouts.total.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, p tenant.Principal, req *llm.ChatRequest, clientTimeout time.Duration, d Dialect) {
	ctx, cancel := h.context(r, 0)
	defer cancel()
	ew := newEventWriter(w, h.streamWriteTimeout)
	writeError := api.WriteError
	var enc StreamEncoder
	if d != nil {
		writeError, enc = d.WriteError, d.Stream(req)
	}
	started := false // the header is out
	start := func() {
		hdr := w.Header()
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		started = true
	}
	writeErr := func(err error) {
		switch err = failure(r, err); {
		case errors.Is(context.Cause(r.Context()), gateway.ErrShuttingDown):
			// The server stops, and its client is still there to be told.
			h.log.Warn("stream ended by the shutdown", "request_id", api.RequestID(w), "error", err)
		case r.Context().Err() != nil:
			return // the client went away: there is no one to tell
		default:
			h.log.Warn("stream ended by upstream failure", "request_id", api.RequestID(w), "error", err)
		}
		var werr error
		if enc != nil {
			werr = ew.write(enc.Error(api.AsError(err)))
		} else {
			werr = ew.event(api.AsError(err).Body())
		}
		if werr == nil && ew.flush() == nil {
			ew.idle()
		}
	}
	// Heartbeats run on the gateway's goroutine while this one waits in
	// Stream; Stream stops them before it returns.
	beat := func() {
		if !started {
			start()
		}
		if ew.write([]byte(": keep-alive\n\n")) == nil && ew.flush() == nil {
			ew.idle()
		}
	}
	o := gateway.StreamOptions{Heartbeat: beat}
	if clientTimeout > 0 {
		o.StartBy = time.Now().Add(answerWithin(clientTimeout))
	}
	s, out, err := h.gw.Stream(ctx, p, req, o)
	if err != nil {
		if started {
			writeErr(err)
			return
		}
		setOutcome(w, out)
		writeError(w, failure(r, err))
		return
	}
	defer s.Close()
	if !started {
		setOutcome(w, out)
		start()
	}
	if out.Grounding != nil && enc == nil {
		s = &groundedStream{Stream: s, g: out.Grounding}
	}
	relay(ew, s, cancel, req.IncludeUsage, enc, writeErr)
}
