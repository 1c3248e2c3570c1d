package gemini

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/upstream"
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
const DefaultConnectTimeout = upstream.DefaultConnectTimeout

// Size caps on what an upstream may send. They bound memory, not policy.
const (
	// maxResponseBytes bounds a response body (a batch of 100 embeddings of
	// 3072 dimensions is about 7 MB).
	maxResponseBytes = 256 << 20
	// maxEventBytes bounds one SSE line and one event's data.
	maxEventBytes = 4 << 20
)

// String describes o without its API key or header values.
func (o Options) String() string {
	key := ""
	if o.APIKey != "" {
		key = upstream.Redacted
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
		hc = upstream.NewClient(o.ConnectTimeout, false, o.WrapTransport)
	}
	return &Client{name: o.Name, base: base, query: q.Encode(), header: h, apiKey: o.APIKey, http: hc}, nil
}

// String names the client without its credentials.
func (c *Client) String() string { return fmt.Sprintf("gemini(%s %s)", c.name, c.base) }

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
	upstream.SetAccept(req.Header, stream)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.errs().TransportError(ctx, model, "post "+method, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp.StatusCode, resp.Header, upstream.ReadErrorBody(resp), model)
	}
	return resp, nil
}

// errs makes c's errors.
func (c *Client) errs() upstream.Errors {
	return upstream.Errors{Provider: c.name, APIKey: c.apiKey}
}

// errorf returns an *llm.Error of kind k with a formatted message.
func (c *Client) errorf(k llm.Kind, model string, cause error, format string, args ...any) *llm.Error {
	return c.errs().Errorf(k, model, cause, format, args...)
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
