// Package upstream is the HTTP plumbing every vendor's HTTP provider
// shares: the transport, redirects, capped reads, and how transport
// failures, context ends and Retry-After become llm errors.
//
// What a vendor says in an error body, and what kind of failure that is,
// stays with the vendor's package.
package upstream

import (
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultConnectTimeout bounds dialing an upstream and the TLS handshake
// when a provider's options leave it zero.
const DefaultConnectTimeout = 10 * time.Second

// MaxErrorBytes bounds how much of an error body is read.
const MaxErrorBytes = 1 << 20

// NewTransport returns a transport for a gateway: many idle connections per
// upstream host, dialing and the TLS handshake bounded by connect
// (DefaultConnectTimeout when not positive), and no response-header
// timeout — the caller's context (request deadline, time to first token)
// governs waiting. h2c speaks cleartext HTTP/2 with prior knowledge.
func NewTransport(connect time.Duration, h2c bool) *http.Transport {
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ExpectContinueTimeout: time.Second,
	}
	if h2c {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t
}

// NewClient returns an HTTP client on NewTransport(connect, h2c), wrapped
// by wrap when it is not nil, that follows redirects by SameHostRedirect.
func NewClient(connect time.Duration, h2c bool, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	var rt http.RoundTripper = NewTransport(connect, h2c)
	if wrap != nil {
		rt = wrap(rt)
	}
	return &http.Client{Transport: rt, CheckRedirect: SameHostRedirect}
}

// SameHostRedirect follows at most three redirects, and only to the same
// host: a redirect elsewhere would carry the credential header with it.
func SameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 || req.URL.Host != via[0].URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}

// SetAccept sets what a request accepts: JSON, or for a stream an
// uncompressed, uncached event stream (a compressed event stream may be
// held back by the decompressor).
func SetAccept(h http.Header, stream bool) {
	if stream {
		h.Set("Accept", "text/event-stream")
		h.Set("Accept-Encoding", "identity")
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Accept", "application/json")
	}
}

// ReadErrorBody reads at most MaxErrorBytes of a failed response's body
// and closes it. A read error keeps what was read.
func ReadErrorBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
	return b
}
