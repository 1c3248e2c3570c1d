package gemini

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
)

// Options configures a Client.
type Options struct {
	// Name is the provider's name in Bulwark's configuration; it is set on
	// every error.
	Name string
	// BaseURL is the API root (default DefaultBaseURL); the model path
	// "/models/{model}:{method}" is appended to it.
	BaseURL string
	// APIKey is sent in the x-goog-api-key header, never in the URL. Empty
	// sends no credential (a proxy that adds its own, the simulator).
	APIKey string
	// Headers are extra headers sent on every call.
	Headers map[string]string
	// ConnectTimeout bounds dialing the upstream and the TLS handshake
	// (default 10s).
	ConnectTimeout time.Duration
	// WrapTransport, when set, wraps the transport New builds: the
	// composition root uses it to pass the trace context on to upstreams.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// HTTPClient replaces the client New builds; for tests.
	HTTPClient *http.Client
}

// DefaultBaseURL is Google's Gemini API (the Generative Language API).
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// DefaultConnectTimeout is the ConnectTimeout used when Options leaves it
// zero.
const DefaultConnectTimeout = 10 * time.Second

// Size caps on what an upstream may send. They bound memory, not policy.
const (
	// maxResponseBytes bounds a response body (a batch of 100 embeddings of
	// 3072 dimensions is about 7 MB).
	maxResponseBytes = 256 << 20
	// maxErrorBytes bounds how much of an error body is read.
	maxErrorBytes = 1 << 20
	// maxEventBytes bounds one SSE line and one event's data.
	maxEventBytes = 4 << 20
)

const redacted = "[redacted]"

// String describes o without its API key or header values.
func (o Options) String() string {
	key := ""
	if o.APIKey != "" {
		key = redacted
	}
	names := make([]string, 0, len(o.Headers))
	for k := range o.Headers {
		names = append(names, k)
	}
	return fmt.Sprintf("gemini.Options{Name:%q BaseURL:%q APIKey:%q Headers:%v ConnectTimeout:%s}",
		o.Name, o.BaseURL, key, names, o.ConnectTimeout)
}

// GoString is String, so that %#v does not print the key either.
func (o Options) GoString() string { return o.String() }

// LogValue logs o without its API key or header values.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", o.Name),
		slog.String("base_url", o.BaseURL),
		slog.Bool("api_key_set", o.APIKey != ""),
	)
}

// Client calls the Gemini API. It is safe for concurrent use.
type Client struct {
	name string
	// base is BaseURL without a trailing slash or a query.
	base string
	// query is the encoded query of BaseURL ("" for none).
	query  string
	header http.Header
	apiKey string
	http   *http.Client
}

var _ llm.Provider = (*Client)(nil)

// New returns a Client for o. It checks that BaseURL is an absolute http or
// https URL.
func New(o Options) (*Client, error) {
	raw := strings.TrimSpace(o.BaseURL)
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("gemini provider %q: base url: %w", o.Name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("gemini provider %q: base url %q: scheme must be http or https", o.Name, raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("gemini provider %q: base url %q: no host", o.Name, raw)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("gemini provider %q: base url %q: unexpected fragment", o.Name, raw)
	}
	q := u.Query()
	if q.Has("key") {
		return nil, fmt.Errorf("gemini provider %q: base url: put the API key in api_key, not in the URL", o.Name)
	}
	base := raw
	if i := strings.IndexByte(base, '?'); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, "/")

	h := make(http.Header, len(o.Headers)+4)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "bulwark")
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	if o.APIKey != "" {
		h.Set("X-Goog-Api-Key", o.APIKey)
	}

	hc := o.HTTPClient
	if hc == nil {
		var rt http.RoundTripper = newTransport(o.ConnectTimeout)
		if o.WrapTransport != nil {
			rt = o.WrapTransport(rt)
		}
		hc = &http.Client{Transport: rt, CheckRedirect: sameHostRedirect}
	}
	return &Client{name: o.Name, base: base, query: q.Encode(), header: h, apiKey: o.APIKey, http: hc}, nil
}

// String names the client without its credentials.
func (c *Client) String() string { return fmt.Sprintf("gemini(%s %s)", c.name, c.base) }

// newTransport returns a transport for a gateway: many idle connections per
// upstream host, bounded dialing, and no response-header timeout — the
// caller's context governs waiting.
func newTransport(connect time.Duration) *http.Transport {
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ExpectContinueTimeout: time.Second,
	}
}

// sameHostRedirect follows at most three redirects, and only to the same
// host: a redirect elsewhere would carry the API key header with it.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 || req.URL.Host != via[0].URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}

// modelPath is model as the path names it: without a "models/" prefix,
// escaped.
func modelPath(model string) string {
	return url.PathEscape(strings.TrimPrefix(model, "models/"))
}

// url returns the URL of method (e.g. "generateContent") for model, with
// extra query parameters (e.g. "alt=sse").
func (c *Client) url(model, method, extra string) string {
	u := c.base + "/models/" + modelPath(model) + ":" + method
	q := c.query
	if extra != "" {
		if q != "" {
			q += "&"
		}
		q += extra
	}
	if q == "" {
		return u
	}
	return u + "?" + q
}

// post sends body to method and returns the response once its headers
// arrived. A non-2xx answer is read, closed and returned as an *llm.Error.
func (c *Client) post(ctx context.Context, model, method string, body []byte, stream bool) (*http.Response, error) {
	extra := ""
	if stream {
		extra = "alt=sse"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(model, method, extra), bytes.NewReader(body))
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, model, err, "build request: %v", err)
	}
	req.Header = c.header.Clone()
	if stream {
		req.Header.Set("Accept", "text/event-stream")
		// A compressed event stream may be held back by the decompressor.
		req.Header.Set("Accept-Encoding", "identity")
		req.Header.Set("Cache-Control", "no-cache")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, model, method, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return nil, c.statusError(resp.StatusCode, resp.Header, b, model)
	}
	return resp, nil
}

// readBody reads a successful response body within maxResponseBytes.
func (c *Client) readBody(ctx context.Context, resp *http.Response, model string) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if k, ok := ctxKind(ctx, err); ok {
			return nil, c.errorf(k, model, err, "read response: %v", err)
		}
		return nil, c.errorf(llm.KindConnection, model, err, "read response: %v", err)
	}
	if len(b) > maxResponseBytes {
		return nil, c.errorf(llm.KindServer, model, nil, "response body exceeds %d bytes", maxResponseBytes)
	}
	return b, nil
}

// errorf returns an *llm.Error of kind k with a formatted message.
func (c *Client) errorf(k llm.Kind, model string, cause error, format string, args ...any) *llm.Error {
	return &llm.Error{
		Kind:     k,
		Message:  c.redact(fmt.Sprintf(format, args...)),
		Provider: c.name,
		Model:    model,
		Err:      cause,
	}
}

// own sets the provider and model on an error from the translation layer.
func (c *Client) own(err error, model string) *llm.Error {
	var e *llm.Error
	if !errors.As(err, &e) {
		return c.errorf(llm.KindBadRequest, model, err, "%v", err)
	}
	e.Provider, e.Model = c.name, model
	return e
}

// redact removes the API key from s, should an upstream or a library ever
// echo it.
func (c *Client) redact(s string) string {
	if len(c.apiKey) >= 4 && strings.Contains(s, c.apiKey) {
		return strings.ReplaceAll(s, c.apiKey, redacted)
	}
	return s
}

// ctxKind reports whether err is the context ending, and how.
func ctxKind(ctx context.Context, err error) (llm.Kind, bool) {
	cerr := ctx.Err()
	switch {
	case errors.Is(cerr, context.Canceled):
		return llm.KindCanceled, true
	case cerr != nil, errors.Is(err, context.DeadlineExceeded):
		return llm.KindTimeout, true
	case errors.Is(err, context.Canceled):
		return llm.KindCanceled, true
	}
	return 0, false
}

// transportError maps a failure to get response headers: the context
// ending, a timeout, or a connection that could not be made or was lost.
func (c *Client) transportError(ctx context.Context, model, method string, err error) *llm.Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the URL; the cause alone says what happened.
		cause = ue.Err
	}
	if k, ok := ctxKind(ctx, err); ok {
		return c.errorf(k, model, cause, "post %s: %v", method, cause)
	}
	kind := llm.KindConnection
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		// Could not connect, timed out or not.
	case errors.As(err, &ne) && ne.Timeout():
		kind = llm.KindTimeout
	}
	return c.errorf(kind, model, cause, "post %s: %v", method, cause)
}
