package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.serveChat)
	mux.HandleFunc("POST /v1/messages", s.serveMessages)
	mux.HandleFunc("POST /v1/embeddings", s.serveEmbeddings)
	mux.HandleFunc("POST /v1/rerank", s.serveRerank)
	mux.HandleFunc("POST /v1beta/models/{rest...}", s.serveGemini)
	mux.HandleFunc("GET /v1/models", s.serveModels)
	mux.HandleFunc("GET /v1/models/{model...}", s.serveModel)
	mux.HandleFunc("POST /model/{model}/converse", s.serveConverse)
	mux.HandleFunc("POST /model/{model}/converse-stream", s.serveConverseStream)
	mux.HandleFunc("POST /model/{model}/invoke", s.serveInvoke)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /sim/v1/models/{model}/faults", s.serveGetFaults)
	mux.HandleFunc("PUT /sim/v1/models/{model}/faults", s.servePutFaults)
	mux.HandleFunc("/", s.serveUnrouted)
	return mux
}

// serveChat answers POST /v1/chat/completions.
func (s *Sim) serveChat(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	req, e := decodeChat(body)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	c, e := s.chatCall(req)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	if !s.startHTTP(w, r, c) {
		return
	}
	defer c.release()
	if req.Stream {
		s.streamHTTP(w, r, c, req.IncludeUsage)
		return
	}
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	answerHTTP(w, c, c.appendCompletion(make([]byte, 0, c.completionSize())))
}

// serveEmbeddings answers POST /v1/embeddings.
func (s *Sim) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	req, base64, e := decodeEmbed(body)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	c, dims, e := s.embedCall(req)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	if !s.startHTTP(w, r, c) {
		return
	}
	defer c.release()
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	em := newEmbedder(c.m)
	vec := make([]float32, dims)
	size := 64 + len(req.Input)*(48+dims*12)
	if base64 {
		size = 64 + len(req.Input)*(48+dims*6)
	}
	b := append(make([]byte, 0, size), `{"object":"list","data":[`...)
	for i, in := range req.Input {
		em.vector(in, vec)
		if i > 0 {
			b = append(b, ',')
		}
		b = llm.AppendEmbedding(b, i, vec, base64)
	}
	b = appendEmbeddingsEnd(b, c.m, c.usage())
	answerHTTP(w, c, b)
}

// startHTTP admits c and applies the faults that answer before any output.
// It reports whether the answer may go on; when it returns true the caller
// must release c.
func (s *Sim) startHTTP(w http.ResponseWriter, r *http.Request, c *call) bool {
	if e := c.admit(r.Context()); e != nil {
		if e.Status != 0 { // else the client left while queued
			writeError(w, e, &c.rate)
		}
		return false
	}
	switch c.fault.kind {
	case faultReset:
		c.release()
		resetConnection(w)
		return false
	case faultHang:
		<-r.Context().Done()
		c.release()
		return false
	}
	if e := c.refusal(); e != nil {
		c.release()
		writeError(w, e, &c.rate)
		return false
	}
	return true
}

// waitHTTP waits d or until the client leaves, reporting whether the wait
// ended first.
func waitHTTP(r *http.Request, d time.Duration) bool {
	var t *time.Timer
	return sleep(r.Context(), &t, d) == nil
}

// answerHTTP sends a plain answer's body, or what its fault makes of it:
// half of it and a cut connection, or a body that is not JSON.
func answerHTTP(w http.ResponseWriter, c *call, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	c.rate.header(h)
	switch c.fault.kind {
	case faultMalformed:
		body = []byte(malformedJSON)
	case faultCut:
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// streamHTTP sends a streamed answer as server-sent events. It flushes only
// before a wait (and at the end), so that a stream without latency is
// written in as few packets as its size allows.
func (s *Sim) streamHTTP(w http.ResponseWriter, r *http.Request, c *call, usage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.rate.header(h)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := r.Context()
	st := newStreamer(c, usage)
	st.script = c.script
	buf := make([]byte, 0, 512)
	var t *time.Timer
	for {
		b, step := st.next(append(buf[:0], "data: "...))
		if step.wait > 0 {
			if rc.Flush() != nil || sleep(ctx, &t, step.wait) != nil {
				return
			}
		}
		switch step.ev {
		case evPause:
			continue
		case evCut:
			rc.Flush()
			panic(http.ErrAbortHandler)
		case evErrorEvent:
			w.Write(append(b, "\n\n"...))
			rc.Flush()
			return
		case evEnd:
			if c.fault.kind != faultNoDone {
				w.Write([]byte("data: [DONE]\n\n"))
			}
			rc.Flush()
			return
		}
		b = append(b, "\n\n"...)
		if _, err := w.Write(b); err != nil {
			return
		}
		buf = b
	}
}

// resetConnection closes the client's connection with a TCP RST, before
// any response header. Where the connection cannot be taken over (HTTP/2),
// the handler is aborted instead, which resets the stream.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	nc := conn
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
		tc.Close()
		return
	}
	conn.Close()
}

// modelEntry is one model of GET /v1/models.
type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// serveModels answers GET /v1/models: every model, by name.
func (s *Sim) serveModels(w http.ResponseWriter, r *http.Request) {
	list := struct {
		Object string       `json:"object"`
		Data   []modelEntry `json:"data"`
	}{Object: "list", Data: make([]modelEntry, 0, len(s.sorted))}
	for _, m := range s.sorted {
		list.Data = append(list.Data, modelEntry{ID: m.name, Object: "model", OwnedBy: s.name})
	}
	writeJSON(w, http.StatusOK, list)
}

// serveModel answers GET /v1/models/{model}.
func (s *Sim) serveModel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("model")
	if _, ok := s.models[name]; !ok {
		_, e := s.lookup(name, false)
		writeError(w, e, nil)
		return
	}
	writeJSON(w, http.StatusOK, modelEntry{ID: name, Object: "model", OwnedBy: s.name})
}

// serveGetFaults answers GET /sim/v1/models/{model}/faults.
func (s *Sim) serveGetFaults(w http.ResponseWriter, r *http.Request) {
	f, err := s.Faults(r.PathValue("model"))
	if err != nil {
		s.writeFaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// servePutFaults answers PUT /sim/v1/models/{model}/faults: the body is a
// config.Faults in JSON (unknown fields are errors) that replaces the
// model's faults. The answer is the faults now in force.
func (s *Sim) servePutFaults(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	var f config.Faults
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&f)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("the body holds more than one JSON value")
	}
	if err != nil {
		writeError(w, invalid("", "invalid_faults", "Invalid faults: %v.", err), nil)
		return
	}
	name := r.PathValue("model")
	if err := s.SetFaults(name, f); err != nil {
		s.writeFaultError(w, r, err)
		return
	}
	s.serveGetFaults(w, r)
}

func (s *Sim) writeFaultError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrUnknownModel) {
		_, e := s.lookup(r.PathValue("model"), false)
		writeError(w, e, nil)
		return
	}
	writeError(w, invalid("", "invalid_faults", "%v", err), nil)
}

// serveUnrouted answers every other path and method: 405 on a known path,
// 404 elsewhere, in OpenAI's error format.
func (s *Sim) serveUnrouted(w http.ResponseWriter, r *http.Request) {
	allow := ""
	switch r.URL.Path {
	case "/v1/chat/completions", "/v1/embeddings", "/v1/rerank":
		allow = http.MethodPost
	case "/v1/models":
		allow = http.MethodGet
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
		e := invalid("", "method_not_allowed", "Method %s is not allowed on %s; use %s.", r.Method, r.URL.Path, allow)
		e.Status = http.StatusMethodNotAllowed
		writeError(w, e, nil)
		return
	}
	e := invalid("", "unknown_url", "Unknown request URL: %s %s.", r.Method, r.URL.Path)
	e.Status = http.StatusNotFound
	writeError(w, e, nil)
}
