package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bulwark-ai/bulwark/llm"
)

// Credentials of the tests; neither may appear in an error.
const (
	testKeyID  = "AKIDTESTKEYID0000000"
	testSecret = "tEsTsEcReTkEy/0000000000000000000000000"
	testToken  = "tEsTsEsSiOnToKeN0000000000"
)

// roundTrip is an http.RoundTripper from a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fake is an upstream that answers every call with one canned response and
// records the requests' paths and bodies.
type fake struct {
	mu      sync.Mutex
	status  int
	header  http.Header
	body    []byte
	paths   []string
	bodies  [][]byte
	answers func(r *http.Request, body []byte) (int, http.Header, []byte) // overrides status/header/body
}

func (f *fake) client() *http.Client {
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.EscapedPath())
		f.bodies = append(f.bodies, b)
		status, header, body := f.status, f.header, f.body
		f.mu.Unlock()
		if f.answers != nil {
			status, header, body = f.answers(r, b)
		}
		if status == 0 {
			status = http.StatusOK
		}
		h := http.Header{}
		for k, v := range header {
			h[k] = v
		}
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	})}
}

func (f *fake) lastBody(t *testing.T) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		t.Fatal("no request was sent")
	}
	var m map[string]any
	if err := json.Unmarshal(f.bodies[len(f.bodies)-1], &m); err != nil {
		t.Fatalf("request body is not JSON: %v: %s", err, f.bodies[len(f.bodies)-1])
	}
	return m
}

// newFakeClient returns a Client that calls f.
func newFakeClient(t testing.TB, f *fake, o Options) *Client {
	t.Helper()
	o.Name = "bedrock-test"
	o.Region = "us-east-1"
	o.Endpoint = "https://bedrock.test"
	o.HTTPClient = f.client()
	o.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testToken)
	c, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// event is one message of a canned event stream.
type event struct {
	typ       string // :event-type, or :exception-type when exception
	exception bool
	payload   string
}

// encodeEvents encodes events in Bedrock's event-stream form.
func encodeEvents(events ...event) []byte {
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, ev := range events {
		var msg eventstream.Message
		if ev.exception {
			msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
			msg.Headers.Set(":exception-type", eventstream.StringValue(ev.typ))
		} else {
			msg.Headers.Set(":message-type", eventstream.StringValue("event"))
			msg.Headers.Set(":event-type", eventstream.StringValue(ev.typ))
		}
		msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		msg.Payload = []byte(ev.payload)
		if err := enc.Encode(&buf, msg); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

var streamHeader = http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}}

// textEvents is a complete text answer: "Hello world." and end_turn.
var textEvents = []event{
	{typ: "messageStart", payload: `{"role":"assistant"}`},
	{typ: "contentBlockDelta", payload: `{"contentBlockIndex":0,"delta":{"text":"Hello"}}`},
	{typ: "contentBlockDelta", payload: `{"contentBlockIndex":0,"delta":{"text":" world."}}`},
	{typ: "contentBlockStop", payload: `{"contentBlockIndex":0}`},
	{typ: "messageStop", payload: `{"stopReason":"end_turn"}`},
	{typ: "metadata", payload: `{"usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10},"metrics":{"latencyMs":12}}`},
}

// chunkWire is the part of a chunk the tests read.
type chunkWire struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llm.Usage `json:"usage"`
}

func parseChunk(t testing.TB, ch *llm.Chunk) chunkWire {
	t.Helper()
	var w chunkWire
	if err := json.Unmarshal(ch.Data, &w); err != nil {
		t.Fatalf("chunk is not JSON: %v: %s", err, ch.Data)
	}
	return w
}

// drain reads s to its end.
func drain(t testing.TB, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	var out []*llm.Chunk
	for range 10000 {
		ch, err := s.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
	t.Fatal("the stream did not end")
	return nil, nil
}

func asLLMError(t testing.TB, err error) *llm.Error {
	t.Helper()
	return asLLMErrorNamed(t, err, "bedrock-test")
}

// asLLMErrorNamed checks that err is an *llm.Error of the provider named
// provider that holds no credential.
func asLLMErrorNamed(t testing.TB, err error, provider string) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Provider != provider {
		t.Errorf("error names provider %q", e.Provider)
	}
	for _, secret := range []string{testKeyID, testSecret, testToken} {
		if strings.Contains(e.Error(), secret) || strings.Contains(e.Message, secret) {
			t.Errorf("error %q holds a credential", e.Error())
		}
	}
	return e
}
