package openai

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

func TestStatusErrors(t *testing.T) {
	inAMinute := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		kind    llm.Kind
		code    string
		message string
		retry   time.Duration // -1: about a minute
	}{
		{name: "openai context length", status: 400,
			body: `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			kind: llm.KindContextLength, code: "context_length_exceeded", message: "This model's maximum context length is 128000 tokens."},
		{name: "vllm context length", status: 400,
			body: `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}`,
			kind: llm.KindContextLength, code: "400"},
		{name: "context length message without code", status: 400,
			body: `{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error"}}`,
			kind: llm.KindContextLength},
		{name: "413", status: 413, body: ``, kind: llm.KindContextLength, message: "request entity too large"},
		{name: "azure content filter", status: 400,
			body: `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}`,
			kind: llm.KindContentFilter, code: "content_filter"},
		{name: "content policy violation", status: 400,
			body: `{"error":{"message":"Your request was rejected by our safety system.","type":"invalid_request_error","code":"content_policy_violation"}}`,
			kind: llm.KindContentFilter},
		{name: "429 retry-after-ms", status: 429, header: map[string]string{"retry-after-ms": "1500", "Retry-After": "9"},
			body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`,
			kind: llm.KindRateLimited, retry: 1500 * time.Millisecond, code: "rate_limit_exceeded"},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error":"slow down"}`,
			kind: llm.KindRateLimited, retry: 7 * time.Second, message: "slow down"},
		{name: "429 Retry-After date", status: 429, header: map[string]string{"Retry-After": inAMinute}, kind: llm.KindRateLimited, retry: -1},
		{name: "429 unreadable Retry-After", status: 429, header: map[string]string{"Retry-After": "soon"}, kind: llm.KindRateLimited},
		{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "3"}, body: `{"error":{"message":"overloaded"}}`,
			kind: llm.KindOverloaded, retry: 3 * time.Second},
		{name: "529", status: 529, kind: llm.KindOverloaded},
		{name: "500", status: 500, body: `{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`, kind: llm.KindServer},
		{name: "502 html", status: 502, body: "<html>\n<head><title>502 Bad Gateway</title></head></html>\n", kind: llm.KindServer,
			message: "<html>\n<head><title>502 Bad Gateway</title></head></html>"},
		{name: "504", status: 504, kind: llm.KindTimeout},
		{name: "500 mentioning context length", status: 500, body: `{"error":{"message":"context length cache failure"}}`, kind: llm.KindServer},
		{name: "401", status: 401, body: `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, kind: llm.KindAuth},
		{name: "403", status: 403, body: `{"error":{"code":"403","message":"Access denied"}}`, kind: llm.KindAuth},
		{name: "404 openai", status: 404, body: `{"error":{"message":"The model 'x' does not exist","type":"invalid_request_error","param":"model","code":"model_not_found"}}`,
			kind: llm.KindNotFound, code: "model_not_found"},
		{name: "404 ollama", status: 404, body: `{"error":"model \"x\" not found, try pulling it first"}`, kind: llm.KindNotFound,
			message: `model "x" not found, try pulling it first`},
		{name: "azure deployment not found", status: 400, body: `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`,
			kind: llm.KindNotFound},
		{name: "422 fastapi", status: 422, body: `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`,
			kind: llm.KindBadRequest, message: "field required"},
		{name: "400 detail string", status: 400, body: `{"detail":"bad input"}`, kind: llm.KindBadRequest, message: "bad input"},
		{name: "400 empty", status: 400, kind: llm.KindBadRequest, message: "bad request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			})
			cl := u.client(t)
			_, cerr := cl.Chat(t.Context(), chatRequest("m", `{}`))
			s, serr := cl.Stream(t.Context(), chatRequest("m", `{}`))
			if serr == nil {
				s.Close()
				t.Fatal("Stream returned a stream for an error status")
			}
			_, eerr := cl.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"x"}})
			for _, err := range []error{cerr, serr, eerr} {
				e := llmError(t, err, "m")
				if e.Kind != c.kind || e.Status != c.status {
					t.Errorf("kind %s status %d, want %s %d (%v)", e.Kind, e.Status, c.kind, c.status, err)
				}
				if c.code != "" && e.Code != c.code {
					t.Errorf("code %q, want %q", e.Code, c.code)
				}
				if c.message != "" && e.Message != c.message {
					t.Errorf("message %q, want %q", e.Message, c.message)
				}
				switch {
				case c.retry == -1:
					if e.RetryAfter < 55*time.Second || e.RetryAfter > time.Minute {
						t.Errorf("RetryAfter %v, want about a minute", e.RetryAfter)
					}
				case e.RetryAfter != c.retry:
					t.Errorf("RetryAfter %v, want %v", e.RetryAfter, c.retry)
				}
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	for _, c := range []struct {
		body string
		want errorBody
	}{
		{`{"error":{"message":"m","type":"t","param":"p","code":"c"}}`, errorBody{Message: "m", Type: "t", Param: "p", Code: "c"}},
		{`{"error":{"message":"m","type":null,"param":null,"code":null}}`, errorBody{Message: "m"}},
		{`{"error":{"message":"m","code":429}}`, errorBody{Message: "m", Code: "429", Status: 429}},
		{`{"error":{"message":"m","code":42}}`, errorBody{Message: "m", Code: "42"}},
		{`{"error":"plain"}`, errorBody{Message: "plain"}},
		{`{"error":{"code":"c"},"message":"outer"}`, errorBody{Message: "outer", Code: "c"}},
		{`{"message":"m","type":"NotFoundError","code":404}`, errorBody{Message: "m", Type: "NotFoundError", Code: "404", Status: 404}},
		{`{"detail":"d"}`, errorBody{Message: "d"}},
		{`{"detail":[{"msg":"a"},{"msg":"b"}]}`, errorBody{Message: "a; b"}},
		{`{"detail":{"x":1}}`, errorBody{Message: `{"x":1}`}},
		{`{"error":{"message":{"nested":true}}}`, errorBody{Message: `{"nested":true}`}},
		{`{"error":[1,2]}`, errorBody{Message: "[1,2]"}},
		{`upstream connect error`, errorBody{Message: "upstream connect error"}},
		{`  `, errorBody{}},
		{`{}`, errorBody{}},
		{`{"error":null}`, errorBody{}},
	} {
		if got := parseErrorBody([]byte(c.body)); got != c.want {
			t.Errorf("parseErrorBody(%s) = %+v, want %+v", c.body, got, c.want)
		}
	}
	long := parseErrorBody([]byte(strings.Repeat("é", 2000)))
	if len(long.Message) > maxMessageBytes+len("…") || !utf8.ValidString(long.Message) {
		t.Errorf("long message not clipped to valid UTF-8: %d bytes", len(long.Message))
	}
}

func TestStreamErrorEvents(t *testing.T) {
	for _, c := range []struct {
		data string
		kind llm.Kind
	}{
		{`{"error":{"message":"boom","type":"server_error"}}`, llm.KindServer},
		{`{"error":{"message":"slow","code":"rate_limit_exceeded"}}`, llm.KindRateLimited},
		{`{"error":{"message":"busy","type":"overloaded_error"}}`, llm.KindOverloaded},
		{`{"error":{"object":"error","message":"bad","type":"BadRequestError","code":400}}`, llm.KindBadRequest},
		{`{"error":{"message":"This model's maximum context length is 10 tokens"}}`, llm.KindContextLength},
		{`{"error":{"message":"filtered","code":"content_filter"}}`, llm.KindContentFilter},
		{`{"error":"unknown trouble"}`, llm.KindServer},
	} {
		c0 := &Client{name: "up"}
		if e := c0.eventError([]byte(c.data), "m"); e.Kind != c.kind || e.Status != 0 {
			t.Errorf("%s: kind %s status %d, want %s", c.data, e.Kind, e.Status, c.kind)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		h    map[string]string
		want time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After-Ms": "12.5"}, 12500 * time.Microsecond},
		{map[string]string{"Retry-After-Ms": "-1", "Retry-After": "2"}, 2 * time.Second},
		{map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{map[string]string{"Retry-After": "0"}, 0},
		{map[string]string{"Retry-After": "1e300"}, 0},
		{map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{map[string]string{"Retry-After": now.Add(-30 * time.Second).Format(http.TimeFormat)}, 0},
	} {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		if got := retryAfter(h, now); got != c.want {
			t.Errorf("retryAfter(%v) = %v, want %v", c.h, got, c.want)
		}
	}
}

func TestTransportErrors(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/v1"
	l.Close()

	closer := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	hang := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

	for _, c := range []struct {
		name string
		base string
		ctx  func() (context.Context, context.CancelFunc)
		kind llm.Kind
	}{
		{"refused", refused, nil, llm.KindConnection},
		{"closed before headers", closer.URL + "/v1", nil, llm.KindConnection},
		{"deadline", hang.URL + "/v1", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 50*time.Millisecond)
		}, llm.KindTimeout},
		{"canceled", hang.URL + "/v1", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, llm.KindCanceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := New(Options{Name: "up", BaseURL: c.base, APIKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			if c.ctx != nil {
				ctx, cancel = c.ctx()
			}
			defer cancel()
			_, cerr := cl.Chat(ctx, chatRequest("m", `{}`))
			_, serr := cl.Stream(ctx, chatRequest("m", `{}`))
			_, eerr := cl.Embed(ctx, &llm.EmbedRequest{Model: "m", Input: []string{"x"}})
			for _, err := range []error{cerr, serr, eerr} {
				e := llmError(t, err, "m")
				if e.Kind != c.kind || e.Status != 0 {
					t.Errorf("kind %s status %d, want %s (%v)", e.Kind, e.Status, c.kind, err)
				}
				if strings.Contains(err.Error(), "http://") {
					t.Errorf("error repeats the URL: %v", err)
				}
			}
		})
	}
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"error":{"message":"m","type":"t","param":"p","code":"c"}}`,
		`{"error":"plain"}`,
		`{"message":"m","code":404}`,
		`{"detail":[{"msg":"a"}]}`,
		`{"error":{"message":"maximum context length","code":400}}`,
		`<html>bad gateway</html>`,
		``,
	} {
		f.Add(s, 400)
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, body string, status int) {
		eb := parseErrorBody([]byte(body))
		for _, s := range []string{eb.Message, eb.Type, eb.Code, eb.Param} {
			if len(s) > maxMessageBytes+len("…") || !utf8.ValidString(s) {
				t.Fatalf("field of %d bytes, valid UTF-8 %v", len(s), utf8.ValidString(s))
			}
		}
		if eb.Status != 0 && (eb.Status < 400 || eb.Status > 599) {
			t.Fatalf("status %d", eb.Status)
		}
		k := classify(status, eb)
		if k == llm.KindUnknown && status >= 400 {
			t.Fatalf("status %d classified unknown", status)
		}
		c := &Client{name: "p", apiKey: "sk-fuzz-key"}
		if e := c.statusError(status, nil, []byte(body), "m"); e.Message == "" || strings.Contains(e.Error(), "sk-fuzz-key") {
			t.Fatalf("statusError: %q", e.Error())
		}
	})
}
