package bedrock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// Options configures a Client.
type Options struct {
	// Name is the provider's name in Bulwark's configuration; it is set on
	// every error.
	Name string
	// Region is the AWS region (us-east-1, eu-west-3, …). Empty takes the
	// region of the environment or the shared config (AWS_REGION, the
	// profile's region); with neither, New fails unless Endpoint is set.
	Region string
	// Endpoint overrides the regional endpoint
	// (https://bedrock-runtime.<region>.amazonaws.com): a VPC endpoint, a
	// proxy, or the simulator's URL.
	Endpoint string
	// Profile is the shared config profile to load (~/.aws/config and
	// credentials); empty for the default chain's choice (AWS_PROFILE, then
	// "default").
	Profile string
	// Credentials replaces the default credential chain when set (static
	// keys from Bulwark's configuration, tests). When it is nil and
	// Endpoint is set, New resolves the default chain once, and, if the
	// chain has no credentials, signs with the dummy SimAccessKeyID ones
	// (a drill against the simulator on a machine without AWS
	// credentials).
	Credentials aws.CredentialsProvider
	// Headers are extra headers sent (and signed) on every call.
	Headers map[string]string
	// ConnectTimeout bounds dialing Bedrock and the TLS handshake (default
	// 10s).
	ConnectTimeout time.Duration
	// WrapTransport, when set, wraps the transport New builds: the
	// composition root uses it to pass the trace context on to upstreams.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// HTTPClient replaces the client New builds; for tests.
	HTTPClient *http.Client
	// DefaultMaxTokens is the maxTokens sent when the client's request sets
	// none (Bedrock's models otherwise stop at their own, often small,
	// default). Zero sends none.
	DefaultMaxTokens int
	// ContinuePrefix declares that the models behind this provider continue
	// a trailing assistant message (Anthropic's models on Bedrock do), so
	// that the gateway may continue broken streams with it.
	ContinuePrefix bool
	// Logger receives New's notice that it fell back to dummy credentials
	// (default slog.Default()). It is never given a credential.
	Logger *slog.Logger
}

// SimAccessKeyID is the access key id (and secret) of the dummy
// credentials New signs with when Endpoint is set and the default chain
// has none: they are no secret and let a drill against the simulator
// (which ignores signatures) run without AWS credentials; a real endpoint
// refuses them.
const SimAccessKeyID = "bulwark-sim"

// simCredentials are the dummy credentials of SimAccessKeyID.
var simCredentials = credentials.StaticCredentialsProvider{Value: aws.Credentials{
	AccessKeyID: SimAccessKeyID, SecretAccessKey: SimAccessKeyID, Source: "BulwarkSimDummyCredentials",
}}

// DefaultConnectTimeout is the ConnectTimeout used when Options leaves it
// zero.
const DefaultConnectTimeout = 10 * time.Second

// String describes o without credentials or header values.
func (o Options) String() string {
	names := make([]string, 0, len(o.Headers))
	for k := range o.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	return fmt.Sprintf("bedrock.Options{Name:%q Region:%q Endpoint:%q Profile:%q Credentials:%t Headers:%v ConnectTimeout:%s DefaultMaxTokens:%d}",
		o.Name, o.Region, o.Endpoint, o.Profile, o.Credentials != nil, names, o.ConnectTimeout, o.DefaultMaxTokens)
}

// GoString is String, so that %#v does not print credentials either.
func (o Options) GoString() string { return o.String() }

// LogValue logs o without credentials or header values.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", o.Name),
		slog.String("region", o.Region),
		slog.String("endpoint", o.Endpoint),
		slog.String("profile", o.Profile),
		slog.Bool("credentials_set", o.Credentials != nil),
	)
}

// Client calls Bedrock's runtime API. It is safe for concurrent use.
type Client struct {
	name       string
	rt         *bedrockruntime.Client
	defaultMax int
	continues  bool
}

var (
	_ llm.Provider  = (*Client)(nil)
	_ llm.Continuer = (*Client)(nil)
)

// ContinuesPrefix reports Options.ContinuePrefix.
func (c *Client) ContinuesPrefix() bool { return c.continues }

// New returns a Client for o, loading the AWS configuration (region and
// credential chain) once. Credentials themselves are resolved, and
// refreshed, on the calls that need them.
func New(ctx context.Context, o Options) (*Client, error) {
	load := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("bedrock %s: load the AWS configuration: %w", o.Name, err)
	}
	if o.Credentials == nil && o.Endpoint != "" {
		if err := fallBackToSimCredentials(ctx, &cfg, o); err != nil {
			return nil, err
		}
	}
	if cfg.Region == "" {
		if o.Endpoint == "" {
			return nil, fmt.Errorf("bedrock %s: no region: set one in the configuration, AWS_REGION or the profile", o.Name)
		}
		cfg.Region = "us-east-1" // only signs: the endpoint is given
	}
	if o.HTTPClient != nil {
		cfg.HTTPClient = o.HTTPClient
	} else {
		// The SDK's client carries what the environment asks of TLS
		// (AWS_CA_BUNDLE, ca_bundle); Bulwark's timeouts and wrapper go on
		// top of its transport.
		var base *http.Transport
		if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
			base = bc.GetTransport()
		}
		cfg.HTTPClient = newHTTPClient(o, base)
	}
	rt := bedrockruntime.NewFromConfig(cfg, func(bo *bedrockruntime.Options) {
		if o.Endpoint != "" {
			bo.BaseEndpoint = aws.String(o.Endpoint)
		}
		bo.Retryer = aws.NopRetryer{}
		for k, v := range o.Headers {
			bo.APIOptions = append(bo.APIOptions, smithyhttp.SetHeaderValue(k, v))
		}
	})
	return &Client{name: o.Name, rt: rt, defaultMax: max(o.DefaultMaxTokens, 0), continues: o.ContinuePrefix}, nil
}

// fallBackToSimCredentials resolves cfg's credential chain once (the
// SDK's cache keeps what it found, and refreshes it as usual) and, if it
// finds none, replaces it with the dummy simCredentials and says so on
// o.Logger, without the chain's error (which may name files or roles) or
// any key. It fails only when ctx ended while resolving: an interrupted
// resolution does not say that there are no credentials.
func fallBackToSimCredentials(ctx context.Context, cfg *aws.Config, o Options) error {
	if cfg.Credentials != nil {
		if _, err := cfg.Credentials.Retrieve(ctx); err == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bedrock %s: resolve the AWS credentials: %w", o.Name, err)
		}
	}
	cfg.Credentials = simCredentials
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("bedrock: no AWS credentials found; signing with dummy credentials, which only a simulator accepts",
		slog.String("provider", o.Name), slog.String("endpoint", o.Endpoint), slog.String("access_key_id", SimAccessKeyID))
	return nil
}

// newHTTPClient builds the client of the calls on base (a transport of
// the SDK's, or nil): Bulwark's connect timeout and pool sizes, request
// bodies that only read (readOnlyBodies), wrapped by o.WrapTransport.
// Calls have no overall timeout: the caller's context bounds them.
func newHTTPClient(o Options, base *http.Transport) *http.Client {
	ct := o.ConnectTimeout
	if ct <= 0 {
		ct = DefaultConnectTimeout
	}
	t := base
	if t == nil {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ExpectContinueTimeout: time.Second}
	}
	t.DialContext = (&net.Dialer{Timeout: ct, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = ct
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	var rt http.RoundTripper = readOnlyBodies{t}
	if o.WrapTransport != nil {
		rt = o.WrapTransport(rt)
	}
	return &http.Client{Transport: rt}
}

// readOnlyBodies hands the transport each request's body behind a
// wrapper that has only Read and Close.
//
// The SDK closes a request's body as soon as the transport has returned
// the response, that is once its headers have arrived, while the
// transport's write loop may not be done with the body: after writing
// ContentLength bytes it reads the body on, to check that it ends there.
// The SDK's body (smithy-go's safeWriteToReadCloser) exposes the WriteTo
// of the bytes.Reader it wraps, and once closed its WriteTo returns io.EOF
// as an error instead of 0, nil: the transport, which copies with WriteTo when
// the body has one, takes that io.EOF for a failed request write and
// closes the connection, under the response that is being read (its next
// read fails with "use of closed network connection"). A server may
// answer as soon as it has the whole body, so the write loop loses that
// race on a loaded machine, and a streamed answer that was whole was cut.
// A closed body's Read returns io.EOF, which is the end the transport
// checks for.
type readOnlyBodies struct{ next http.RoundTripper }

func (t readOnlyBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	r2 := new(http.Request)
	*r2 = *r // a RoundTripper must not modify the request
	r2.Body = readOnlyBody{r.Body}
	if get := r.GetBody; get != nil {
		r2.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return readOnlyBody{b}, nil
		}
	}
	return t.next.RoundTrip(r2)
}

// readOnlyBody hides every method of a request body but Read and Close.
type readOnlyBody struct{ rc io.ReadCloser }

func (b readOnlyBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readOnlyBody) Close() error               { return b.rc.Close() }

// Chat performs a chat completion with Converse.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	in, err := c.converseInput(req)
	if err != nil {
		return nil, err
	}
	out, err := c.rt.Converse(ctx, in)
	if err != nil {
		return nil, c.apiError(ctx, req.Model, err)
	}
	comp, e := c.completion(req.Model, out)
	if e != nil {
		return nil, e
	}
	return comp.Response(), nil
}

// converseInput parses req and translates it to a ConverseInput.
func (c *Client) converseInput(req *llm.ChatRequest) (*bedrockruntime.ConverseInput, error) {
	r, err := oai.ParseRequest(req)
	if err != nil {
		return nil, c.stamp(err, req.Model)
	}
	in, err := translate(r, c.name, c.defaultMax)
	if err != nil {
		return nil, c.stamp(err, req.Model)
	}
	return in, nil
}

// stamp sets the provider and model on an *llm.Error that lacks them.
func (c *Client) stamp(err error, model string) error {
	var e *llm.Error
	if errors.As(err, &e) {
		if e.Provider == "" {
			e.Provider = c.name
		}
		e.Model = model
		return e
	}
	return &llm.Error{Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Message: err.Error(), Provider: c.name, Model: model, Err: err}
}

// requestID is Bedrock's id of an answer (x-amzn-RequestId), or a random
// one when it sent none.
func requestID(md middleware.Metadata) string {
	if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok && id != "" {
		return id
	}
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
