package openai

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

func (h *Handler) chat(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	req, err := decodeChat(body)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.Annotate(w, req.Model, "")
	if req.Stream {
		h.stream(w, r, p, req)
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	resp, out, err := h.gw.Chat(ctx, p, req)
	setOutcome(w, out)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(resp.Body)
}

// stream relays a streamed completion as server-sent events. The header
// goes out with the first event, so that until the upstream has produced
// something an error is an ordinary JSON error response with its status;
// after it, an error ends the stream with an error event and no [DONE].
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, p tenant.Principal, req *llm.ChatRequest) {
	ctx, cancel := h.context(r)
	defer cancel()
	begin := time.Now()
	s, out, err := h.gw.Stream(ctx, p, req)
	if err != nil {
		setOutcome(w, out)
		api.WriteError(w, err)
		return
	}
	defer s.Close()
	first, err := s.Recv()
	out.Upstream = time.Since(begin) // time to the first event
	setOutcome(w, out)
	if err != nil && !errors.Is(err, io.EOF) {
		api.WriteError(w, err)
		return
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 0, 1024)
	c := first
	for {
		if errors.Is(err, io.EOF) {
			_, _ = w.Write([]byte("data: [DONE]\n\n"))
			if flusher != nil {
				flusher.Flush()
			}
			return
		}
		if err != nil {
			h.log.Warn("stream ended by upstream failure", "request_id", api.RequestID(w), "error", err)
			buf = append(buf[:0], "data: "...)
			buf = append(buf, api.AsError(err).Body()...)
			buf = append(buf, "\n\n"...)
			_, _ = w.Write(buf)
			if flusher != nil {
				flusher.Flush()
			}
			return
		}
		if c.Usage == nil || c.HasContent || req.IncludeUsage { // else the client did not ask for usage
			buf = append(buf[:0], "data: "...)
			buf = append(buf, c.Data...)
			buf = append(buf, "\n\n"...)
			if _, werr := w.Write(buf); werr != nil {
				return // the client went away; Close cancels the upstream
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		c, err = s.Recv()
	}
}
