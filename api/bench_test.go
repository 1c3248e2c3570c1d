package api

import (
	"net/http"
	"testing"
	"time"
)

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkWriteError is the cost of an error response, the answer to
// every request shed under overload.
func BenchmarkWriteError(b *testing.B) {
	w := &discardWriter{h: http.Header{}}
	err := Errorf(http.StatusTooManyRequests, TypeInvalidRequest, "rate_limit_exceeded", "too many requests; retry after %d seconds", 2)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		WriteError(w, err)
	}
}

// BenchmarkServerTiming is the cost of the Server-Timing header.
func BenchmarkServerTiming(b *testing.B) {
	rec := &record{ResponseWriter: &discardWriter{h: http.Header{}}, start: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		SetServerTiming(rec, 412*time.Millisecond)
	}
}
