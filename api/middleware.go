package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/bulwark-ai/bulwark/gateway"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-Id"

// record is the response writer every handler writes through. It records
// what the access log reports; inner layers fill in who and what, and the
// gateway fills in summary (through the request's context) when the
// request it served ends.
type record struct {
	http.ResponseWriter
	status int
	bytes  int64
	id     string
	tenant string
	key    string
	model  string
	target string
	wrote  bool
	start  time.Time
	// summary is what the gateway says about the request: route, target,
	// attempts, upstream time and tokens (gateway.WithSummary).
	summary gateway.Summary
}

func (r *record) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *record) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the recorder.
func (r *record) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *record) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func recordOf(w http.ResponseWriter) *record {
	for {
		switch v := w.(type) {
		case *record:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// Annotate records the alias and the target that served a request, for the
// access log.
func Annotate(w http.ResponseWriter, model, target string) {
	if rec := recordOf(w); rec != nil {
		rec.model, rec.target = model, target
	}
}

// SetServerTiming sets the Server-Timing header that reports Bulwark's own
// cost: the time spent in Bulwark so far ("bulwark") and the time spent
// waiting for the upstream ("upstream"), both in milliseconds. It must be
// called before the header is written.
func SetServerTiming(w http.ResponseWriter, upstream time.Duration) {
	rec := recordOf(w)
	if rec == nil {
		return
	}
	own := time.Since(rec.start) - upstream
	if own < 0 {
		own = 0
	}
	b := make([]byte, 0, 48)
	b = append(b, "bulwark;dur="...)
	b = strconv.AppendFloat(b, float64(own.Microseconds())/1000, 'f', 3, 64)
	b = append(b, ", upstream;dur="...)
	b = strconv.AppendFloat(b, float64(upstream.Microseconds())/1000, 'f', 3, 64)
	w.Header().Set("Server-Timing", string(b))
}

// RequestID returns the id of the request being written by w.
func RequestID(w http.ResponseWriter) string {
	if rec := recordOf(w); rec != nil {
		return rec.id
	}
	return ""
}

func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		rec := &record{ResponseWriter: w, id: id, start: time.Now()}
		inner := r.WithContext(gateway.WithSummary(r.Context(), &rec.summary))
		next.ServeHTTP(rec, inner)
		// The route matched inside is the outer layers' too (the
		// telemetry middleware labels metrics with it).
		r.Pattern = inner.Pattern
	})
}

// validRequestID accepts a client's id if it is short printable ASCII, so
// that it is safe in logs and headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	var id [4 + 2*len(b)]byte
	copy(id[:], "req_")
	hex.Encode(id[4:], b[:])
	return string(id[:])
}

// accessLog writes one JSON line per request once the handler returned:
// who (tenant, key id — never the key), what (method, path, model asked
// for, route and target that served it), the outcome (status, error type,
// attempts, tokens in and out) and where the time went (latency, the
// upstreams' share and Bulwark's own overhead). The gateway's part is
// there only for requests the gateway served.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		rec := recordOf(w)
		if rec == nil {
			return
		}
		status := rec.status
		if !rec.wrote {
			status = http.StatusOK
		}
		latency := time.Since(start)
		attrs := make([]slog.Attr, 0, 20)
		attrs = append(attrs,
			slog.String("request_id", rec.id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Float64("latency_ms", ms(latency)),
			slog.Int64("bytes", rec.bytes),
			slog.String("tenant", rec.tenant),
			slog.String("key_id", rec.key),
			slog.String("model", rec.model),
		)
		target := rec.target
		if s := &rec.summary; s.Ended {
			if s.Target != "" {
				target = s.Target
			}
			attrs = append(attrs,
				slog.String("alias", s.Alias),
				slog.String("target", target),
				slog.Int("attempts", s.Attempts),
				slog.Int("tokens_in", s.InputTokens),
				slog.Int("tokens_out", s.OutputTokens),
				slog.Float64("upstream_ms", ms(s.Upstream)),
				slog.Float64("overhead_ms", ms(max(latency-s.Upstream, 0))),
			)
			if s.ErrorType != "" {
				attrs = append(attrs, slog.String("error_type", s.ErrorType))
			}
		} else {
			attrs = append(attrs, slog.String("target", target))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// ms returns d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil || v == http.ErrAbortHandler {
				if v != nil {
					panic(v)
				}
				return
			}
			log.Error("panic serving request", "request_id", RequestID(w), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec := recordOf(w); rec != nil && rec.wrote {
				// Headers are gone: abort the connection so the client
				// sees a failure rather than a truncated success.
				panic(http.ErrAbortHandler)
			}
			WriteErrorFor(w, r, fmt.Errorf("panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if max > 0 {
			if r.ContentLength > max {
				WriteErrorFor(w, r, Errorf(http.StatusRequestEntityTooLarge, TypeInvalidRequest, "request_too_large",
					"the request body is %d bytes, larger than the limit of %d bytes", r.ContentLength, max))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}
