package api

import "net/http"

// limitHeaders answers a request whose request line and headers pass max
// bytes with a 431 in OpenAI's format. net/http refuses headers past its
// own MaxHeaderBytes before any handler runs, with a plain-text body that
// no SDK reads; the server sets that bound above max (app: twice it), so
// that this check answers every request between the two, and net/http
// only one that is far past the limit. Sizes are counted as on the wire:
// "Name: value\r\n" per value, and the request line.
func limitHeaders(max int, next http.Handler) http.Handler {
	if max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headerBytes(r); n > max {
			w.Header().Set("Connection", "close")
			WriteErrorFor(w, r, Errorf(http.StatusRequestHeaderFieldsTooLarge, TypeInvalidRequest, "request_header_fields_too_large",
				"the request's headers are %d bytes; the most this server takes is %d (server.max_header_bytes)", n, max))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerBytes is the size of r's request line and headers on the wire
// (HTTP/1.1 framing; for HTTP/2, the same sum of names and values).
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" && r.Header.Get("Host") == "" {
		n += len("Host: ") + len(r.Host) + 2 // net/http moves Host out of the map
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}
