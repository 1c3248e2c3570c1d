package openai

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
	// Named up: the tests have a type upstream (their fake server).
	up "github.com/bulwark-ai/bulwark/llm/upstream"
)

// Options configures a Client.
type Options struct {
	// Name is the provider's name in Bulwark's configuration; it is set on
	// every error.
	Name string
	// BaseURL is the API root, e.g. https://api.openai.com/v1. It may
	// contain {model}, replaced on every call by the target's model
	// (Azure OpenAI's deployment form).
	BaseURL string
	// APIKey is sent as a bearer token, or in the api-key header when
	// APIVersion is set. Empty sends no credential (local vLLM, Ollama).
	APIKey string
	// APIVersion selects Azure OpenAI's form: api-version=APIVersion is added
	// to every URL and the key goes in the api-key header.
	APIVersion string
	// Headers are extra headers sent on every call (OpenAI-Organization, …).
	Headers map[string]string
	// ConnectTimeout bounds dialing the upstream and the TLS handshake
	// (default 10s).
	ConnectTimeout time.Duration
	// H2C speaks cleartext HTTP/2 with prior knowledge to an http:// base
	// URL, so that every call to the upstream shares a few connections
	// instead of holding one each (a model server behind Envoy, bulwark
	// sim). An https:// upstream negotiates HTTP/2 by itself; H2C does not
	// apply to it.
	H2C bool
	// WrapTransport, when set, wraps the transport New builds: the
	// composition root uses it to pass the trace context on to upstreams.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// HTTPClient replaces the client New builds; for tests.
	HTTPClient *http.Client
	// ContinuePrefix declares how the server continues an answer from a
	// prefix: ContinueVLLM for vLLM's continue_final_message; "" for
	// none (OpenAI's own API starts a new answer after a trailing
	// assistant message, so it must not be declared).
	ContinuePrefix string
}

// ContinueVLLM is vLLM's way to continue an answer: the text so far as a
// trailing assistant message, with continue_final_message true and
// add_generation_prompt false.
const ContinueVLLM = "vllm"

// DefaultConnectTimeout is the ConnectTimeout used when Options leaves it
// zero.
const DefaultConnectTimeout = up.DefaultConnectTimeout

// Size caps on what an upstream may send. They bound memory, not policy: a
// real answer is far below them.
const (
	// maxResponseBytes bounds a chat or embeddings response body (a batch of
	// 2048 float-array embeddings of 3072 dimensions is about 130 MB).
	maxResponseBytes = 256 << 20
	// maxEventBytes bounds one SSE line and one event's data.
	maxEventBytes = 4 << 20
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
	return fmt.Sprintf("openai.Options{Name:%q BaseURL:%q APIKey:%q APIVersion:%q Headers:%v ConnectTimeout:%s}",
		o.Name, o.BaseURL, key, o.APIVersion, names, o.ConnectTimeout)
}

// GoString is String, so that %#v does not print the key either.
func (o Options) GoString() string { return o.String() }

// LogValue logs o without its API key or header values.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", o.Name),
		slog.String("base_url", o.BaseURL),
		slog.Bool("api_key_set", o.APIKey != ""),
		slog.String("api_version", o.APIVersion),
	)
}

// Client calls one OpenAI-compatible API. It is safe for concurrent use.
type Client struct {
	name string
	// base is BaseURL without a trailing slash or a query; it may hold
	// "{model}".
	base string
	// query is the encoded query added to every URL ("" for none).
	query  string
	header http.Header
	apiKey string
	http   *http.Client
	// rates holds, by model, the rate limit the latest answer stated
	// (*llm.RateLimit).
	rates sync.Map
	// continues is set when the server continues a prefix (ContinuePrefix).
	continues bool
}

var (
	_ llm.Provider  = (*Client)(nil)
	_ llm.Continuer = (*Client)(nil)
)

// ContinuesPrefix reports whether the server was declared to continue an
// answer from a prefix (Options.ContinuePrefix).
func (c *Client) ContinuesPrefix() bool { return c.continues }

// New returns a Client for o. It checks that BaseURL is an absolute http or
// https URL.
func New(o Options) (*Client, error) {
	raw := strings.TrimSpace(o.BaseURL)
	// {model} is not valid in a URL; check the URL with a stand-in.
	u, err := url.Parse(strings.ReplaceAll(raw, "{model}", "model"))
	if err != nil {
		return nil, fmt.Errorf("openai provider %q: base url: %w", o.Name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("openai provider %q: base url %q: scheme must be http or https", o.Name, raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("openai provider %q: base url %q: no host", o.Name, raw)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("openai provider %q: base url %q: unexpected fragment", o.Name, raw)
	}
	base := raw
	if i := strings.IndexByte(base, '?'); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, "/")
	q := u.Query()
	if o.APIVersion != "" {
		q.Set("api-version", o.APIVersion)
	}

	h := make(http.Header, len(o.Headers)+4)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "bulwark")
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	if o.APIKey != "" {
		if o.APIVersion != "" {
			h.Set("Api-Key", o.APIKey)
		} else {
			h.Set("Authorization", "Bearer "+o.APIKey)
		}
	}

	hc := o.HTTPClient
	if hc == nil {
		hc = up.NewClient(o.ConnectTimeout, o.H2C && strings.HasPrefix(base, "http://"), o.WrapTransport)
	}
	return &Client{
		continues: o.ContinuePrefix == ContinueVLLM,
		name:      o.Name,
		base:      base,
		query:     q.Encode(),
		header:    h,
		apiKey:    o.APIKey,
		http:      hc,
	}, nil
}

// String names the client without its credentials.
func (c *Client) String() string { return fmt.Sprintf("openai(%s %s)", c.name, c.base) }

// url returns the URL of path (e.g. "/chat/completions") for model.
func (c *Client) url(path, model string) string {
	b := c.base
	if strings.Contains(b, "{model}") {
		b = strings.ReplaceAll(b, "{model}", url.PathEscape(model))
	}
	if c.query == "" {
		return b + path
	}
	return b + path + "?" + c.query
}

// post sends body to path and returns the response once its headers
// arrived. A non-2xx answer is read, closed and returned as an *llm.Error.
func (c *Client) post(ctx context.Context, path, model string, body []byte, stream bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path, model), bytes.NewReader(body))
	if err != nil {
		return nil, c.errorf(llm.KindBadRequest, model, err, "build request: %v", err)
	}
	req.Header = c.header.Clone()
	up.SetAccept(req.Header, stream)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.errs().TransportError(ctx, model, "post "+path, err)
	}
	if rl := rateLimit(resp.Header); rl != nil {
		c.rates.Store(model, rl)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp.StatusCode, resp.Header, up.ReadErrorBody(resp), model)
	}
	return resp, nil
}

// RateLimit returns the rate limit the upstream stated on its latest
// answer for model (its x-ratelimit-* headers), successful or not, and
// whether any answer stated one. Under concurrent calls the latest answer
// may be another call's: the statement is about the upstream's account,
// not about one call.
func (c *Client) RateLimit(model string) (llm.RateLimit, bool) {
	v, ok := c.rates.Load(model)
	if !ok {
		return llm.RateLimit{}, false
	}
	return *v.(*llm.RateLimit), true
}

// errs makes c's errors.
func (c *Client) errs() up.Errors {
	return up.Errors{Provider: c.name, APIKey: c.apiKey}
}

// errorf returns an *llm.Error of kind k with a formatted message.
func (c *Client) errorf(k llm.Kind, model string, cause error, format string, args ...any) *llm.Error {
	return c.errs().Errorf(k, model, cause, format, args...)
}
