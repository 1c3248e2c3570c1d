package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// hookSecret signs the test's webhooks.
var hookKey = []byte("async test webhook secret 123456")
var hookSecret = "whsec_" + base64.StdEncoding.EncodeToString(hookKey)

// hookSink is a webhook endpoint that keeps what it received.
type hookSink struct {
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got, h.body = append(h.got, r), append(h.body, b)
	h.mu.Unlock()
}

// wait returns the first delivery of the event of type typ about id.
func (h *hookSink) wait(t *testing.T, typ, id string) (http.Header, []byte) {
	t.Helper()
	for range 2000 {
		h.mu.Lock()
		for i, b := range h.body {
			var e struct {
				Type string
				Data struct{ ID string }
			}
			if json.Unmarshal(b, &e) == nil && e.Type == typ && e.Data.ID == id {
				hdr, body := h.got[i].Header, h.body[i]
				h.mu.Unlock()
				return hdr, body
			}
		}
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s webhook for %s", typ, id)
	return nil, nil
}

func asyncConfig(hookURL string) string {
	return fastConfig + "async: {priority: interactive}\nwebhooks:\n  - url: " + hookURL + "\n    secret: " + hookSecret + "\n"
}

func pollResponse(t *testing.T, c openai.Client, id string) *responses.Response {
	t.Helper()
	for range 2000 {
		r, err := c.Responses.Get(context.Background(), id, responses.ResponseGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		switch r.Status {
		case "queued", "in_progress":
			time.Sleep(5 * time.Millisecond)
			continue
		}
		return r
	}
	t.Fatalf("response %s did not end", id)
	return nil
}

// Issue 18 item 4: a background response is queued at once, polled to
// completed, readable and continuable like any stored response; a
// background response is cancelled, cancelling it again returns it as it
// is; store false and stream are refused; each end is told to the
// webhook endpoint, signed per Standard Webhooks (checked by hand and by
// the official SDK's verifier).
func TestSDKBackgroundResponses(t *testing.T) {
	sink := &hookSink{}
	hooks := httptest.NewServer(sink)
	defer hooks.Close()
	ts := start(t, asyncConfig(hooks.URL))
	c := sdk(ts)
	ctx := context.Background()

	queued, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "chat", Background: openai.Bool(true),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(queued.ID, "resp_") || queued.Status != "queued" || !queued.Background {
		t.Fatalf("queued: %+v", queued)
	}
	done := pollResponse(t, c, queued.ID)
	if done.Status != "completed" || done.OutputText() == "" || !done.Background || done.Usage.OutputTokens != 5 {
		t.Fatalf("completed: %+v", done)
	}
	// It continues a conversation like any stored response.
	next, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "chat", PreviousResponseID: openai.String(done.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("again")}})
	if err != nil || next.Status != "completed" {
		t.Fatalf("continued: %+v %v", next, err)
	}
	// Cancelling one that completed returns it unchanged.
	same, err := c.Responses.Cancel(ctx, done.ID)
	if err != nil || same.Status != "completed" || same.OutputText() != done.OutputText() {
		t.Fatalf("cancel of a completed response: %+v %v", same, err)
	}
	// Only background responses can be cancelled.
	if _, err := c.Responses.Cancel(ctx, next.ID); !isStatus(err, 400) {
		t.Fatalf("cancel of a foreground response: %v", err)
	}

	hdr, body := sink.wait(t, "response.completed", done.ID)
	mac := hmac.New(sha256.New, hookKey)
	mac.Write([]byte(hdr.Get("webhook-id") + "." + hdr.Get("webhook-timestamp") + "." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); hdr.Get("webhook-signature") != want {
		t.Fatalf("signature %q, want %q", hdr.Get("webhook-signature"), want)
	}
	ev, err := c.Webhooks.Unwrap(body, hdr, option.WithWebhookSecret(hookSecret))
	if err != nil {
		t.Fatalf("the official SDK refuses the webhook: %v", err)
	}
	if got := ev.AsResponseCompleted(); got.Data.ID != done.ID || got.Type != "response.completed" {
		t.Fatalf("unwrapped %+v", got)
	}

	// A slow one, cancelled: it ends cancelled, and stays so.
	slow, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "slow", Background: openai.Bool(true),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("take your time")}})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := c.Responses.Cancel(ctx, slow.ID)
	if err != nil || cancelled.Status != "cancelled" {
		t.Fatalf("cancel: %+v %v", cancelled, err)
	}
	sink.wait(t, "response.cancelled", slow.ID)
	if again := pollResponse(t, c, slow.ID); again.Status != "cancelled" {
		t.Fatalf("after cancel: %s", again.Status)
	}

	// store false and stream are refused.
	for _, body := range []string{
		`{"model":"chat","input":"hi","background":true,"store":false}`,
		`{"model":"chat","input":"hi","background":true,"stream":true}`,
	} {
		res := post(t, ts, "/v1/responses", body, nil)
		if res.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", body, res.StatusCode)
		}
	}
	// Another tenant's background response does not exist for this key.
	if _, err := c.Responses.Get(ctx, "resp_nope", responses.ResponseGetParams{}); !isStatus(err, 404) {
		t.Fatalf("unknown id: %v", err)
	}
}

func isStatus(err error, code int) bool {
	var e *openai.Error
	return errors.As(err, &e) && e.StatusCode == code
}

func post(t *testing.T, ts *testServer, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.url+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func getJSON(t *testing.T, ts *testServer, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}

// Issue 18 item 4: a chat completion sent with X-Bulwark-Async: true is
// 202 with a job and its poll URL, and the poll answers the completion
// once it is done; a streamed or bad one is a 400 at once; the end is a
// webhook; the delivery log lists it.
func TestAsyncChatCompletion(t *testing.T) {
	sink := &hookSink{}
	hooks := httptest.NewServer(sink)
	defer hooks.Close()
	ts := start(t, asyncConfig(hooks.URL))
	res := post(t, ts, "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Bulwark-Async": "true"})
	var j struct {
		ID, Object, Status, URL string
		Response                *struct {
			Object  string
			Choices []struct{ Message struct{ Content string } }
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusAccepted || j.Status != "queued" || j.Object != "chat.completion.job" ||
		res.Header.Get("Location") != j.URL || j.URL != "/v1/chat/completions/async/"+j.ID {
		t.Fatalf("%d %+v", res.StatusCode, j)
	}
	for range 2000 {
		if code := getJSON(t, ts, j.URL, &j); code != 200 {
			t.Fatalf("poll: %d", code)
		}
		if j.Status != "queued" && j.Status != "in_progress" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if j.Status != "completed" || j.Response == nil || j.Response.Object != "chat.completion" || j.Response.Choices[0].Message.Content == "" {
		t.Fatalf("completed: %+v", j)
	}
	sink.wait(t, "chat.completion.completed", j.ID)

	for _, body := range []string{
		`{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"model":"chat"}`,
	} {
		if r := post(t, ts, "/v1/chat/completions", body, map[string]string{"X-Bulwark-Async": "true"}); r.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", body, r.StatusCode)
		}
	}
	var missing map[string]any
	if code := getJSON(t, ts, "/v1/chat/completions/async/chatjob_nope", &missing); code != 404 {
		t.Errorf("unknown job: %d", code)
	}
	// The delivery log, filtered by state.
	var page struct {
		Data []struct {
			Type, State string
			Attempts    int
		}
	}
	for range 500 {
		if code := getJSON(t, ts, "/admin/v1/webhooks/deliveries?state=delivered", &page); code != 200 {
			t.Fatalf("deliveries: %d", code)
		}
		if len(page.Data) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(page.Data) != 1 || page.Data[0].Type != "chat.completion.completed" || page.Data[0].Attempts != 1 {
		t.Fatalf("delivery log %+v", page)
	}
	var bad map[string]any
	if code := getJSON(t, ts, "/admin/v1/webhooks/deliveries?state=lost", &bad); code != 400 {
		t.Fatalf("bad state filter: %d", code)
	}
}
