package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bulwark-ai/bulwark/llm"
)

// TestAPIErrors maps each of Bedrock's exceptions, as its restjson
// deserializer reads them (X-Amzn-ErrorType and {"message"}), for Chat,
// Stream and Embed alike.
func TestAPIErrors(t *testing.T) {
	cases := []struct {
		status  int
		typ     string
		message string
		kind    llm.Kind
	}{
		{429, "ThrottlingException", "Too many requests, please wait before trying again.", llm.KindRateLimited},
		{400, "ServiceQuotaExceededException", "Your request exceeds the service quota.", llm.KindRateLimited},
		{503, "ServiceUnavailableException", "Bedrock is unable to process your request.", llm.KindOverloaded},
		{429, "ModelNotReadyException", "Model is not ready for inference.", llm.KindOverloaded},
		{408, "ModelTimeoutException", "Model has timed out in processing the request.", llm.KindTimeout},
		{400, "ValidationException", "Input is too long for requested model.", llm.KindContextLength},
		{400, "ValidationException", "prompt is too long: 210000 tokens > 200000 maximum", llm.KindContextLength},
		{400, "ValidationException", "The provided model identifier is invalid.", llm.KindNotFound},
		{400, "ValidationException", "temperature: range: 0..1", llm.KindBadRequest},
		{403, "AccessDeniedException", "You don't have access to the model with the specified model ID.", llm.KindAuth},
		{403, "UnrecognizedClientException", "The security token included in the request is invalid.", llm.KindAuth},
		{403, "ExpiredTokenException", "The security token included in the request is expired", llm.KindAuth},
		{404, "ResourceNotFoundException", "Model not found.", llm.KindNotFound},
		{500, "InternalServerException", "The server encountered an internal error.", llm.KindServer},
		{424, "ModelErrorException", "The model returned an error.", llm.KindServer},
		{502, "SomethingNewException", "?", llm.KindServer},
		{504, "", "", llm.KindTimeout},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.typ), func(t *testing.T) {
			h := http.Header{"Retry-After": {"3"}}
			if tc.typ != "" {
				// As the service sends it: the type with a namespace suffix.
				h.Set("X-Amzn-ErrorType", tc.typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
			}
			f := &fake{status: tc.status, header: h, body: fmt.Appendf(nil, `{"message":%q}`, tc.message)}
			c := newFakeClient(t, f, Options{})
			_, cerr := c.Chat(t.Context(), chatRequest("m", userHi))
			s, serr := c.Stream(t.Context(), chatRequest("m", userHi))
			if serr == nil {
				s.Close()
				t.Fatal("Stream succeeded")
			}
			_, eerr := c.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"a"}})
			for _, err := range []error{cerr, serr, eerr} {
				e := asLLMError(t, err)
				if e.Kind != tc.kind || e.Status != tc.status || e.Model != "m" || e.RetryAfter != 3*time.Second {
					t.Errorf("%+v: want kind %s, status %d, retry after 3s", e, tc.kind, tc.status)
				}
				if tc.typ != "" && (e.Code != tc.typ || e.Message != tc.message) {
					t.Errorf("code %q message %q", e.Code, e.Message)
				}
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	fail := func(err error) *http.Client {
		return &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) { return nil, err })}
	}
	cases := []struct {
		name string
		err  error
		kind llm.Kind
	}{
		{"reset", syscall.ECONNRESET, llm.KindConnection},
		{"refused", syscall.ECONNREFUSED, llm.KindConnection},
	}
	for _, tc := range cases {
		cl, err := New(t.Context(), Options{Name: "bedrock-test", Region: "us-east-1", Endpoint: "https://bedrock.test",
			Credentials: staticCreds, HTTPClient: fail(tc.err)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Chat(t.Context(), chatRequest("m", userHi))
		if e := asLLMError(t, err); e.Kind != tc.kind || e.Status != 0 {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}

	// The context ends while the upstream does not answer.
	block := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})}
	cl, err := New(t.Context(), Options{Name: "bedrock-test", Region: "us-east-1", Endpoint: "https://bedrock.test",
		Credentials: staticCreds, HTTPClient: block})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = cl.Chat(ctx, chatRequest("m", userHi))
	if e := asLLMError(t, err); e.Kind != llm.KindTimeout {
		t.Errorf("deadline: %+v", e)
	}
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = cl.Stream(ctx, chatRequest("m", userHi))
	if e := asLLMError(t, err); e.Kind != llm.KindCanceled {
		t.Errorf("cancel: %+v", e)
	}
}

var staticCreds = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testToken)

// failingCredentials fails to resolve, quoting what it was given, as a
// broken credential source might.
type failingCredentials struct{}

func (failingCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no credentials in the chain")
}

func TestCredentialsError(t *testing.T) {
	f := &fake{body: []byte(okAnswer)}
	c, err := New(t.Context(), Options{Name: "bedrock-test", Region: "us-east-1", Endpoint: "https://bedrock.test",
		Credentials: failingCredentials{}, HTTPClient: f.client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(t.Context(), chatRequest("m", userHi))
	if e := asLLMError(t, err); e.Kind != llm.KindAuth || e.Kind.Retryable() {
		t.Errorf("%+v, want an authentication error", e)
	}
	if len(f.bodies) != 0 {
		t.Error("a request without credentials was sent")
	}
}

// TestNoSecrets: neither the signed request's credentials nor the options
// show up in errors or in the Options' printed and logged forms.
func TestNoSecrets(t *testing.T) {
	f := &fake{status: 403, header: http.Header{"X-Amzn-ErrorType": {"UnrecognizedClientException"}},
		body: []byte(`{"message":"The security token included in the request is invalid."}`)}
	c := newFakeClient(t, f, Options{Headers: map[string]string{"X-Custom": "header-value-secret"}})
	_, err := c.Chat(t.Context(), chatRequest("m", userHi))
	e := asLLMError(t, err)
	for _, form := range []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
		for _, secret := range []string{testSecret, testToken, "header-value-secret"} {
			if strings.Contains(form, secret) {
				t.Errorf("%q shows up in %s", secret, form)
			}
		}
	}
	o := Options{Name: "b", Headers: map[string]string{"X-Custom": "header-value-secret"}, Credentials: aws.AnonymousCredentials{}}
	for _, form := range []string{o.String(), fmt.Sprintf("%#v", o), o.LogValue().String()} {
		if strings.Contains(form, "header-value-secret") {
			t.Errorf("a header value shows up in %s", form)
		}
	}
	if got := f.paths; len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
}

func TestHeadersSent(t *testing.T) {
	var got http.Header
	f := &fake{}
	f.answers = func(r *http.Request, _ []byte) (int, http.Header, []byte) {
		got = r.Header.Clone()
		return 200, nil, []byte(okAnswer)
	}
	c := newFakeClient(t, f, Options{Headers: map[string]string{"X-Team": "search"}})
	if _, err := c.Chat(t.Context(), chatRequest("m", userHi)); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Team") != "search" || !strings.HasPrefix(got.Get("Authorization"), "AWS4-HMAC-SHA256 ") ||
		!strings.Contains(got.Get("Authorization"), "x-team") || got.Get("X-Amz-Security-Token") != testToken {
		t.Errorf("headers %v: want X-Team, signed, with the session token", got)
	}
}

func TestNewConfiguration(t *testing.T) {
	if _, err := New(t.Context(), Options{Name: "b"}); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("no region, no endpoint: %v", err)
	}
	if _, err := New(t.Context(), Options{Name: "b", Region: "us-east-1", Profile: "no-such-profile"}); err == nil {
		t.Error("a profile that does not exist was accepted")
	}
	wrapped := false
	c, err := New(t.Context(), Options{Name: "b", Region: "us-east-1", Credentials: staticCreds, Endpoint: "http://127.0.0.1:1",
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return roundTrip(func(r *http.Request) (*http.Response, error) { wrapped = true; return rt.RoundTrip(r) })
		}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(t.Context(), chatRequest("m", userHi))
	if e := asLLMErrorNamed(t, err, "b"); e.Kind != llm.KindConnection || !wrapped {
		t.Errorf("%+v (through the wrapper: %v), want a connection error", e, wrapped)
	}
}
