package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

func newServer(t *testing.T, s *Sim) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestHandlerChat(t *testing.T) {
	s := newTestSim(t, nil)
	srv := newServer(t, s)
	body := `{"model":"chat","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"x"}}]}],"max_tokens":100,"temperature":0.2,"n":2}`
	req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer anything")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c completion
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if c.Object != "chat.completion" || len(c.Choices) != 2 || c.Usage == nil || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
		t.Errorf("completion = %+v", c)
	}
	if resp.Header.Get("X-Ratelimit-Limit-Requests") != "" {
		t.Error("rate limit headers without limits")
	}
}

func TestHandlerStream(t *testing.T) {
	s := newTestSim(t, nil)
	srv := newServer(t, s)
	for _, usage := range []bool{true, false} {
		body := `{"model":"chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
		if usage {
			body = `{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`
		}
		resp, err := srv.Client().Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		events, err := readSSE(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		n := len(events)
		if n < 4 || events[n-1].data != "[DONE]" {
			t.Fatalf("events = %v", events)
		}
		first := parseCompletion(t, []byte(events[0].data))
		if *first.Choices[0].Delta.Role != "assistant" {
			t.Errorf("first event = %s", events[0].data)
		}
		end := n - 2
		if usage {
			u := parseCompletion(t, []byte(events[n-2].data))
			if len(u.Choices) != 0 || u.Usage == nil || u.Usage.CompletionTokens != n-4 {
				t.Errorf("usage event = %s (%d events)", events[n-2].data, n)
			}
			end--
		}
		fin := parseCompletion(t, []byte(events[end].data))
		if fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != "stop" {
			t.Errorf("finish event = %s", events[end].data)
		}
		var data [][]byte
		for _, e := range events[:n-1] {
			if !usage && strings.Contains(e.data, `"usage"`) {
				t.Errorf("usage without include_usage: %s", e.data)
			}
			data = append(data, []byte(e.data))
		}
		// The same prompt over HTTP and in-process gives the same text.
		inproc, err := s.Chat(t.Context(), chatReq("Hi"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := streamContent(t, data), parseCompletion(t, inproc.Body).Choices[0].Message.Content; got != want {
			t.Errorf("streamed %q, in-process %q", got, want)
		}
	}
}

func TestHandlerModels(t *testing.T) {
	srv := newServer(t, newTestSim(t, nil))
	resp, err := srv.Client().Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string
		Data   []struct{ ID, Object, OwnedBy string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != 2 || list.Data[0].ID != chatModel || list.Data[1].ID != embedModel || list.Data[0].Object != "model" {
		t.Errorf("models = %+v", list)
	}
	resp2, err := srv.Client().Get(srv.URL + "/v1/models/embed")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Errorf("GET /v1/models/embed: %d", resp2.StatusCode)
	}
}

func TestHandlerBadInput(t *testing.T) {
	srv := newServer(t, newTestSim(t, nil))
	const chat, embed = "/v1/chat/completions", "/v1/embeddings"
	for _, tc := range []struct {
		path, body string
		status     int
		code       string
		param      string
	}{
		{chat, `{"model":"chat","messages":[`, 400, "", ""},
		{chat, ``, 400, "", ""},
		{chat, `[]`, 400, "invalid_type", ""},
		{chat, `"hello"`, 400, "invalid_type", ""},
		{chat, `null`, 400, "missing_required_parameter", "model"},
		{chat, `{"messages":[{"role":"user","content":"x"}]}`, 400, "missing_required_parameter", "model"},
		{chat, `{"model":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_type", "model"},
		{chat, `{"model":"chat"}`, 400, "missing_required_parameter", "messages"},
		{chat, `{"model":"chat","messages":[]}`, 400, "empty_array", "messages"},
		{chat, `{"model":"chat","messages":"hi"}`, 400, "invalid_type", "messages"},
		{chat, `{"model":"chat","messages":[null]}`, 400, "invalid_value", "messages[0].role"},
		{chat, `{"model":"chat","messages":[{"role":"robot","content":"x"}]}`, 400, "invalid_value", "messages[0].role"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":5}]}`, 400, "invalid_type", "messages.content"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":{"a":1}}]}`, 400, "invalid_type", "messages.content"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":[5]}]}`, 400, "invalid_type", "messages.content"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}`, 400, "invalid_type", "max_tokens"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, 400, "integer_below_min_value", "max_tokens"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-3}`, 400, "integer_below_min_value", "max_completion_tokens"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"max_tokens":1e30}`, 400, "invalid_type", "max_tokens"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"n":0}`, 400, "invalid_value", "n"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"n":1.5}`, 400, "invalid_type", "n"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"n":1000}`, 400, "invalid_value", "n"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, 400, "invalid_type", "stream"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, 400, "invalid_value", "stream_options"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"stop":5}`, 400, "invalid_type", "stop"},
		{chat, `{"model":"chat","messages":[{"role":"user","content":"x"}],"seed":"s"}`, 400, "invalid_type", "seed"},
		{chat, `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found", ""},
		{chat, `{"model":"embed","messages":[{"role":"user","content":"x"}]}`, 400, "model_not_supported", "model"},
		{embed, `{"model":"embed"}`, 400, "missing_required_parameter", "input"},
		{embed, `{"model":"embed","input":5}`, 400, "invalid_type", "input"},
		{embed, `{"model":"embed","input":""}`, 400, "invalid_value", "input[0]"},
		{embed, `{"model":"embed","input":[]}`, 400, "empty_array", "input"},
		{embed, `{"model":"embed","input":["a",7]}`, 400, "invalid_type", "input"},
		{embed, `{"model":"embed","input":[1,"a"]}`, 400, "invalid_type", "input"},
		{embed, `{"model":"embed","input":"a","encoding_format":"hex"}`, 400, "invalid_value", "encoding_format"},
		{embed, `{"model":"embed","input":"a","dimensions":0}`, 400, "integer_below_min_value", "dimensions"},
		{embed, `{"model":"embed","input":"a","dimensions":65}`, 400, "invalid_value", "dimensions"},
		{embed, `{"input":"a"}`, 400, "missing_required_parameter", "model"},
		{embed, `{"model":"chat","input":"a"}`, 400, "model_not_supported", "model"},
		{embed, `{"model":"nope","input":"a"}`, 404, "model_not_found", ""},
		{embed, `{"model":"embed","input":"` + strings.Repeat("z", 4*600) + `"}`, 400, "context_length_exceeded", "input"},
	} {
		resp, body := post(t, srv.Client(), srv.URL+tc.path, tc.body)
		code, param := wantAPIError(t, resp, body, tc.status)
		if code != tc.code || param != tc.param {
			t.Errorf("%s %.60s: code %q param %q, want %q %q: %s", tc.path, tc.body, code, param, tc.code, tc.param, body)
		}
	}

	resp, err := srv.Client().Get(srv.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET on chat: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, body := post(t, srv.Client(), srv.URL+"/v1/completions", `{}`)
	wantAPIError(t, resp, body, 404)
	resp, body = post(t, srv.Client(), srv.URL+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"`+strings.Repeat("y", 4*5000)+`"}]}`)
	if code, param := wantAPIError(t, resp, body, 400); code != "context_length_exceeded" || param != "messages" {
		t.Errorf("context window: %s", body)
	}
}

func TestHandlerRateLimitHeaders(t *testing.T) {
	s := newTestSim(t, func(m *config.SimModel) {
		m.RPM, m.TPM = 2, 1000
		m.OutputTokens = config.Range{Min: 10, Max: 10}
	})
	srv := newServer(t, s)
	const body = `{"model":"chat","messages":[{"role":"user","content":"x"}]}` // 18 tokens
	resp, _ := post(t, srv.Client(), srv.URL+"/v1/chat/completions", body)
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("X-Ratelimit-Limit-Requests") != "2" || h.Get("X-Ratelimit-Remaining-Requests") != "1" ||
		h.Get("X-Ratelimit-Limit-Tokens") != "1000" || h.Get("X-Ratelimit-Remaining-Tokens") != "982" ||
		h.Get("X-Ratelimit-Reset-Requests") == "" || h.Get("X-Ratelimit-Reset-Tokens") == "" {
		t.Errorf("first answer: %d %v", resp.StatusCode, h)
	}
	post(t, srv.Client(), srv.URL+"/v1/chat/completions", body)
	resp, b := post(t, srv.Client(), srv.URL+"/v1/chat/completions", body)
	if code, _ := wantAPIError(t, resp, b, 429); code != "rate_limit_exceeded" {
		t.Errorf("code %q", code)
	}
	h = resp.Header
	if h.Get("Retry-After") == "" || h.Get("Retry-After-Ms") == "" || h.Get("X-Ratelimit-Remaining-Requests") != "0" || h.Get("X-Ratelimit-Remaining-Tokens") != "964" {
		t.Errorf("429 headers: %v", h)
	}
}

func TestHandlerOverCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSim(t, func(m *config.SimModel) {
			m.MaxConcurrency = 1
			m.TTFT = fixed(ms(1000))
		})
		p, client := newPipeNet(s.Handler())
		defer p.stop(client)
		const body = `{"model":"chat","messages":[{"role":"user","content":"x"}]}`
		done := make(chan int)
		go func() {
			resp, _ := post(t, client, "http://sim/v1/chat/completions", body)
			done <- resp.StatusCode
		}()
		synctest.Wait()
		start := time.Now()
		resp, b := post(t, client, "http://sim/v1/chat/completions", body)
		if code, _ := wantAPIError(t, resp, b, 429); code != "overloaded" || time.Since(start) != 0 {
			t.Errorf("over capacity: %s after %s", b, time.Since(start))
		}
		if status := <-done; status != 200 {
			t.Errorf("the first request got %d", status)
		}
	})
}

func TestHandlerFaultControl(t *testing.T) {
	s := newTestSim(t, nil)
	srv := newServer(t, s)
	c := srv.Client()
	put := func(model, body string) (*http.Response, []byte) {
		req, _ := http.NewRequest("PUT", srv.URL+"/sim/v1/models/"+model+"/faults", strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := put("chat", `{"error_rates":{"503":1},"retry_after":"2s"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"503":1`) {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	resp, b = post(t, c, srv.URL+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`)
	wantAPIError(t, resp, b, 503)
	if resp.Header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	got, err := c.Get(srv.URL + "/sim/v1/models/chat/faults")
	if err != nil {
		t.Fatal(err)
	}
	var f config.Faults
	json.NewDecoder(got.Body).Decode(&f)
	got.Body.Close()
	if f.ErrorRates[503] != 1 || f.RetryAfter != config.Duration(2*time.Second) {
		t.Errorf("GET faults = %+v", f)
	}

	for _, bad := range []string{`{"reset":{"rate":2}}`, `{"bogus":1}`, `{"retry_after":5}`, `not json`, `{} {}`} {
		resp, b := put("chat", bad)
		wantAPIError(t, resp, b, 400)
	}
	resp, b = put("nope", `{}`)
	wantAPIError(t, resp, b, 404)

	if resp, b := put("chat", `{}`); resp.StatusCode != 200 {
		t.Fatalf("clear: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, c, srv.URL+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 200 {
		t.Errorf("after clearing: %d %s", resp.StatusCode, b)
	}
}

func TestHandlerBodyLimits(t *testing.T) {
	h := newTestSim(t, nil).Handler()
	big := io.MultiReader(strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"`), io.LimitReader(zeros{}, maxBodyBytes))
	req := httptest.NewRequest("POST", "/v1/chat/completions", big)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	res := w.Result()
	wantAPIError(t, res, w.Body.Bytes(), http.StatusRequestEntityTooLarge)
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'a'
	}
	return len(b), nil
}

func TestDecodeEscapes(t *testing.T) {
	req, e := decodeChat([]byte(`{"model":"chat","messages":[{"role":"user","content":"say \"hi\"\n\u00e9 caf\u00e9"},{"role":"user","content":"plain é"}]}`))
	if e != nil {
		t.Fatal(e)
	}
	if got := req.Messages[0].Content; got != "say \"hi\"\né café" {
		t.Errorf("content = %q", got)
	}
	if got := req.Messages[1].Content; got != "plain é" {
		t.Errorf("content = %q", got)
	}
}
