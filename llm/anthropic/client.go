package anthropic

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	// Named up: the tests have a func upstream (their fake server).
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

// Options configures a Client.
type Options struct {
	// Name is the provider's name in Bulwark's configuration; it is set on
	// every error.
	Name string
	// BaseURL is the API root without the version path (default
	// https://api.anthropic.com); the client posts to {BaseURL}/v1/messages.
	// A BaseURL already ending in /v1 is accepted as well.
	BaseURL string
	// APIKey is sent in the x-api-key header. Empty sends no credential (a
	// proxy that adds its own).
	APIKey string
	// Version is the anthropic-version header (default 2023-06-01).
	Version string
	// Headers are extra headers sent on every call (anthropic-beta, …).
	Headers map[string]string
	// ConnectTimeout bounds dialing the upstream and the TLS handshake
	// (default 10s).
	ConnectTimeout time.Duration
	// WrapTransport, when set, wraps the transport New builds: the
	// composition root uses it to pass the trace context on to upstreams.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// HTTPClient replaces the client New builds; for tests.
	HTTPClient *http.Client
	// DefaultMaxTokens is max_tokens when the client sent none: Anthropic
	// requires it (default 4096).
	DefaultMaxTokens int
}

// Defaults of the Options fields whose zero value means "default".
const (
	DefaultBaseURL          = "https://api.anthropic.com"
	DefaultVersion          = "2023-06-01"
	DefaultConnectTimeout   = up.DefaultConnectTimeout
	DefaultDefaultMaxTokens = 4096
)

// Size caps on what an upstream may send. They bound memory, not policy.
const (
	maxResponseBytes = 64 << 20
	maxEventBytes    = 4 << 20
)

// String describes o without its API key or header values.
func (o Options) String() string {
	key := ""
	if o.APIKey != "" {
		key = up.Redacted
	}
	names := make([]string, 0, len(o.Headers))
	for k := range o.Headers {
		names = append(names, k)
	}
	return fmt.Sprintf("anthropic.Options{Name:%q BaseURL:%q APIKey:%q Version:%q Headers:%v ConnectTimeout:%s DefaultMaxTokens:%d}",
		o.Name, o.BaseURL, key, o.Version, names, o.ConnectTimeout, o.DefaultMaxTokens)
}

// GoString is String, so that %#v does not print the key either.
func (o Options) GoString() string { return o.String() }

// LogValue logs o without its API key or header values.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", o.Name),
		slog.String("base_url", o.BaseURL),
		slog.Bool("api_key_set", o.APIKey != ""),
		slog.String("version", o.Version),
	)
}

// Client calls Anthropic's Messages API. It is safe for concurrent use.
type Client struct {
	name      string
	url       string // of POST /v1/messages
	header    http.Header
	apiKey    string
	http      *http.Client
	maxTokens int
	// rates holds, by model, the rate limit the latest answer stated
	// (*llm.RateLimit).
	rates sync.Map
}

var (
	_ llm.Provider  = (*Client)(nil)
	_ llm.Continuer = (*Client)(nil)
)

// ContinuesPrefix reports true: Anthropic continues a trailing assistant
// message (a prefill) natively.
func (c *Client) ContinuesPrefix() bool { return true }

// New returns a Client for o. It checks that BaseURL is an absolute http or
// https URL.
func New(o Options) (*Client, error) {
	raw := strings.TrimSpace(o.BaseURL)
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("anthropic provider %q: base url: %w", o.Name, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("anthropic provider %q: base url %q: scheme must be http or https", o.Name, raw)
	case u.Host == "":
		return nil, fmt.Errorf("anthropic provider %q: base url %q: no host", o.Name, raw)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("anthropic provider %q: base url %q: unexpected query or fragment", o.Name, raw)
	}
	base := strings.TrimSuffix(strings.TrimRight(raw, "/"), "/v1")

	h := make(http.Header, len(o.Headers)+4)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "bulwark")
	version := o.Version
	if version == "" {
		version = DefaultVersion
	}
	h.Set("Anthropic-Version", version)
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	if o.APIKey != "" {
		h.Set("X-Api-Key", o.APIKey)
	}

	hc := o.HTTPClient
	if hc == nil {
		hc = up.NewClient(o.ConnectTimeout, false, o.WrapTransport)
	}
	maxTokens := o.DefaultMaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultDefaultMaxTokens
	}
	return &Client{name: o.Name, url: base + "/v1/messages", header: h, apiKey: o.APIKey, http: hc, maxTokens: maxTokens}, nil
}

// String names the client without its credentials.
func (c *Client) String() string { return fmt.Sprintf("anthropic(%s %s)", c.name, c.url) }

// post sends body and returns the response once its headers arrived. A
// non-2xx answer is read, closed and returned as an *llm.Error.
func (c *Client) post(ctx context.Context, model string, body []byte, stream bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, model, err, "build request: %v", err)
	}
	req.Header = c.header.Clone()
	up.SetAccept(req.Header, stream)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.errs().TransportError(ctx, model, "post /v1/messages", err)
	}
	if rl := rateLimit(resp.Header, time.Now()); rl != nil {
		c.rates.Store(model, rl)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp.StatusCode, resp.Header, up.ReadErrorBody(resp), model)
	}
	return resp, nil
}

// errs makes c's errors.
func (c *Client) errs() up.Errors {
	return up.Errors{Provider: c.name, APIKey: c.apiKey}
}

// errorf returns an *llm.Error of kind k with a formatted message.
func (c *Client) errorf(k llm.Kind, model string, cause error, format string, args ...any) *llm.Error {
	return c.errs().Errorf(k, model, cause, format, args...)
}
