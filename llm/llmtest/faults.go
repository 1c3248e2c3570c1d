package llmtest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// hangDeadline is the caller's deadline in the hang case.
const hangDeadline = 150 * time.Millisecond

// always fires a fault on every request.
func always(afterTokens int) config.Fault { return config.Fault{Rate: 1, AfterTokens: afterTokens} }

// faultCases each inject one fault on Env.ChatModel and check how it
// surfaces.
var faultCases = []struct {
	name   string
	faults config.Faults
	check  func(t *testing.T, e Env)
}{
	{
		name:   "Status500",
		faults: config.Faults{ErrorRates: map[int]float64{500: 1}},
		check:  httpFailure(llm.KindServer, 500),
	},
	{
		name:   "Status429RetryAfter",
		faults: config.Faults{ErrorRates: map[int]float64{429: 1}, RetryAfter: config.Duration(2 * time.Second)},
		check: func(t *testing.T, e Env) {
			for _, err := range chatAndStream(t, e) {
				le := wantKind(t, err, e.ChatModel, llm.KindRateLimited)
				if le.RetryAfter != 2*time.Second {
					t.Errorf("RetryAfter %v, want 2s", le.RetryAfter)
				}
				checkStatus(t, le, 429)
			}
		},
	},
	{
		name:   "Status503",
		faults: config.Faults{ErrorRates: map[int]float64{503: 1}},
		check:  httpFailure(llm.KindOverloaded, 503),
	},
	{
		name:   "ContentFilter",
		faults: config.Faults{ContentFilter: always(0)},
		check: func(t *testing.T, e Env) {
			for _, err := range chatAndStream(t, e) {
				le := wantKind(t, err, e.ChatModel, llm.KindContentFilter)
				if le.Kind.Retryable() {
					t.Error("a content-filter error is retryable")
				}
			}
		},
	},
	{
		name:   "Reset",
		faults: config.Faults{Reset: always(0)},
		check: func(t *testing.T, e Env) {
			for _, err := range chatAndStream(t, e) {
				le := wantKind(t, err, e.ChatModel, llm.KindConnection)
				checkStatus(t, le, 0)
			}
		},
	},
	{
		name:   "Hang",
		faults: config.Faults{Hang: always(0)},
		check: func(t *testing.T, e Env) {
			for _, stream := range []bool{false, true} {
				c, cancel := context.WithTimeout(t.Context(), hangDeadline)
				start := time.Now()
				err := call(c, e, stream)
				cancel()
				if d := time.Since(start); d > hangDeadline+time.Second {
					t.Errorf("stream=%v: the call returned %v after its deadline", stream, d-hangDeadline)
				}
				wantKind(t, err, e.ChatModel, llm.KindTimeout)
			}
		},
	},
	{
		name:   "StreamCut",
		faults: config.Faults{Cut: always(3)},
		check:  brokenStream,
	},
	{
		name:   "StreamMalformed",
		faults: config.Faults{Malformed: always(2)},
		check:  brokenStream,
	},
	{
		name:   "StreamNoDone",
		faults: config.Faults{NoDone: always(0)},
		check: func(t *testing.T, e Env) {
			s, err := e.Provider.Stream(ctx(t), ChatRequest(e.ChatModel, "Count from one to ten.", 24, true, nil))
			noError(t, err, e.ChatModel, "Stream")
			defer s.Close()
			chunks, err := drain(t, s)
			if err != io.EOF {
				asError(t, err, e.ChatModel)
				t.Fatalf("stream without [DONE] ended with %v, want io.EOF", err)
			}
			checkStream(t, chunks)
			if chunks[len(chunks)-1].Usage == nil {
				t.Error("the last chunk is not the usage chunk")
			}
		},
	},
}

// call makes one chat call, streamed or not, and returns its error; a
// stream is read to its end.
func call(c context.Context, e Env, stream bool) error {
	req := ChatRequest(e.ChatModel, "Say hello.", 16, stream, nil)
	if !stream {
		_, err := e.Provider.Chat(c, req)
		return err
	}
	s, err := e.Provider.Stream(c, req)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		if _, err := s.Recv(); err != nil {
			return err
		}
	}
}

// chatAndStream makes a chat call and starts a stream, both of which must
// fail before any output: a stream's HTTP-level failure is returned by
// Stream itself.
func chatAndStream(t *testing.T, e Env) []error {
	t.Helper()
	_, cerr := e.Provider.Chat(ctx(t), ChatRequest(e.ChatModel, "Say hello.", 16, false, nil))
	if cerr == nil {
		t.Fatal("Chat succeeded despite the fault")
	}
	s, serr := e.Provider.Stream(ctx(t), ChatRequest(e.ChatModel, "Say hello.", 16, true, nil))
	if serr == nil {
		s.Close()
		t.Fatal("Stream returned a stream despite the fault; the error belongs to Stream itself")
	}
	return []error{cerr, serr}
}

func httpFailure(k llm.Kind, status int) func(t *testing.T, e Env) {
	return func(t *testing.T, e Env) {
		for _, err := range chatAndStream(t, e) {
			le := wantKind(t, err, e.ChatModel, k)
			checkStatus(t, le, status)
			if !le.Kind.Retryable() {
				t.Errorf("kind %s is not retryable", le.Kind)
			}
		}
	}
}

// checkStatus checks an error's HTTP status where the provider has one: an
// in-process provider may leave it zero.
func checkStatus(t *testing.T, le *llm.Error, status int) {
	t.Helper()
	if le.Status != 0 && le.Status != status {
		t.Errorf("Status %d, want %d", le.Status, status)
	}
}

// brokenStream checks a stream that starts, carries content, then breaks.
func brokenStream(t *testing.T, e Env) {
	s, err := e.Provider.Stream(ctx(t), ChatRequest(e.ChatModel, "Count from one to twenty.", 32, true, nil))
	noError(t, err, e.ChatModel, "Stream")
	defer s.Close()
	chunks, err := drain(t, s)
	if err == io.EOF {
		t.Fatalf("a broken stream ended with io.EOF after %d chunks", len(chunks))
	}
	wantKind(t, err, e.ChatModel, llm.KindStreamBroken)
	content := false
	for _, ch := range chunks {
		content = content || ch.HasContent
	}
	if !content {
		t.Errorf("no content before the break (%d chunks)", len(chunks))
	}
	if _, err2 := s.Recv(); err2 == nil || err2 == io.EOF {
		t.Errorf("Recv after the break = %v, want the error again", err2)
	}
}
