package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// geminiResponse is the part of a GenerateContentResponse the tests read.
type geminiResponse struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         *string `json:"text"`
				FunctionCall *struct {
					Name string         `json:"name"`
					Args map[string]any `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
		Index        int    `json:"index"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
	Error        *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	} `json:"error"`
}

func parseGemini(t testing.TB, b []byte) geminiResponse {
	t.Helper()
	var g geminiResponse
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return g
}

// candidateText joins the text parts of candidate 0.
func (g *geminiResponse) candidateText() string {
	var sb strings.Builder
	for _, c := range g.Candidates {
		if c.Index != 0 {
			continue
		}
		for _, p := range c.Content.Parts {
			if p.Text != nil {
				sb.WriteString(*p.Text)
			}
		}
	}
	return sb.String()
}

func newGeminiServer(t *testing.T, chat func(*config.SimModel)) (*Sim, string) {
	t.Helper()
	s := newTestSim(t, chat)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv.URL + geminiAPIBase
}

func geminiBody(prompt string, extra string) string {
	b, _ := json.Marshal(prompt)
	return `{"contents":[{"role":"user","parts":[{"text":` + string(b) + `}]}]` + extra + `}`
}

// wantGoogleError checks an error answer in Google's format.
func wantGoogleError(t *testing.T, resp *http.Response, body []byte, status int, name string) geminiResponse {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	g := parseGemini(t, body)
	if g.Error == nil || g.Error.Code != status || g.Error.Status != name || g.Error.Message == "" {
		t.Fatalf("error body %s, want code %d status %s", body, status, name)
	}
	return g
}

func TestGeminiGenerate(t *testing.T) {
	_, base := newGeminiServer(t, nil)
	resp, body := post(t, http.DefaultClient, base+chatModel+":generateContent", geminiBody("Say hello.", ""))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	g := parseGemini(t, body)
	if len(g.Candidates) != 1 || g.Candidates[0].Content.Role != "model" || g.candidateText() == "" {
		t.Fatalf("candidates: %s", body)
	}
	if f := g.Candidates[0].FinishReason; f != "STOP" {
		t.Errorf("finishReason %q", f)
	}
	u := g.UsageMetadata
	if u == nil || u.PromptTokenCount <= 0 || u.CandidatesTokenCount <= 0 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
		t.Errorf("usageMetadata %+v", u)
	}
	if g.ModelVersion != chatModel || g.ResponseID == "" {
		t.Errorf("modelVersion %q responseId %q", g.ModelVersion, g.ResponseID)
	}

	// The same prompt gets the same answer as on the OpenAI endpoint.
	resp, oai := post(t, http.DefaultClient, strings.TrimSuffix(base, geminiAPIBase)+"/v1/chat/completions",
		`{"model":"chat","messages":[{"role":"user","content":"Say hello."}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("openai status %d", resp.StatusCode)
	}
	if want := parseCompletion(t, oai).Choices[0].Message.Content; g.candidateText() != want {
		t.Errorf("gemini text %q, openai text %q", g.candidateText(), want)
	}
}

func TestGeminiGenerateOptions(t *testing.T) {
	_, base := newGeminiServer(t, nil)
	url := base + chatModel + ":generateContent"
	body := `{"systemInstruction":{"parts":[{"text":"Be brief."}]},` +
		`"contents":[{"role":"user","parts":[{"text":"Hi"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]},` +
		`{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"ok":true}}}]}],` +
		`"generationConfig":{"maxOutputTokens":3,"candidateCount":2,"stopSequences":["x"],"seed":5,"temperature":0.5}}`
	resp, b := post(t, http.DefaultClient, url, body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	g := parseGemini(t, b)
	if len(g.Candidates) != 2 {
		t.Fatalf("%d candidates, want 2", len(g.Candidates))
	}
	for i, c := range g.Candidates {
		if c.Index != i || c.FinishReason != "MAX_TOKENS" {
			t.Errorf("candidate %d: index %d finish %q", i, c.Index, c.FinishReason)
		}
	}
	if g.UsageMetadata.CandidatesTokenCount != 6 {
		t.Errorf("candidatesTokenCount %d, want 6", g.UsageMetadata.CandidatesTokenCount)
	}

	resp, b = post(t, http.DefaultClient, url, geminiBody("Hello [sim:safety] there", ""))
	if g := parseGemini(t, b); resp.StatusCode != 200 || g.Candidates[0].FinishReason != "SAFETY" {
		t.Errorf("safety marker: %d %s", resp.StatusCode, b)
	}
}

func TestGeminiFunctionCall(t *testing.T) {
	_, base := newGeminiServer(t, nil)
	tools := `,"tools":[{"functionDeclarations":[{"name":"other"},{"name":"get_weather","description":"d",` +
		`"parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"days":{"type":"integer"},"metric":{"type":"boolean"}}}}]}]`
	anyMode := tools + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},"generationConfig":{"maxOutputTokens":1}`
	var first map[string]any
	for range 2 {
		resp, b := post(t, http.DefaultClient, base+chatModel+":generateContent", geminiBody("Weather?", anyMode))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		g := parseGemini(t, b)
		fc := g.Candidates[0].Content.Parts[0].FunctionCall
		if fc == nil || fc.Name != "get_weather" || g.Candidates[0].FinishReason != "STOP" {
			t.Fatalf("want a get_weather call: %s", b)
		}
		if _, ok := fc.Args["city"].(string); !ok || len(fc.Args) != 3 {
			t.Errorf("args %v", fc.Args)
		}
		if first != nil && !reflect.DeepEqual(first, fc.Args) {
			t.Errorf("args %v then %v: not deterministic", first, fc.Args)
		}
		first = fc.Args
	}

	// Streamed: the call comes whole, with the finish reason.
	resp, b := post(t, http.DefaultClient, base+chatModel+":streamGenerateContent?alt=sse", geminiBody("Weather?", anyMode))
	if resp.StatusCode != 200 {
		t.Fatalf("stream status %d", resp.StatusCode)
	}
	events, err := readSSE(strings.NewReader(string(b)))
	if err != nil || len(events) != 1 {
		t.Fatalf("%d events, err %v: %s", len(events), err, b)
	}
	g := parseGemini(t, []byte(events[0].data))
	if fc := g.Candidates[0].Content.Parts[0].FunctionCall; fc == nil || !reflect.DeepEqual(fc.Args, first) || g.Candidates[0].FinishReason != "STOP" {
		t.Errorf("streamed call: %s", events[0].data)
	}

	// AUTO answers with text.
	resp, b = post(t, http.DefaultClient, base+chatModel+":generateContent", geminiBody("Weather?", tools))
	if g := parseGemini(t, b); resp.StatusCode != 200 || g.candidateText() == "" {
		t.Errorf("mode AUTO: %s", b)
	}
}

func TestGeminiStream(t *testing.T) {
	_, base := newGeminiServer(t, func(m *config.SimModel) { m.ITL = fixed(ms(1)) })
	prompt := geminiBody("Count to ten.", "")
	resp, b := post(t, http.DefaultClient, base+chatModel+":streamGenerateContent?alt=sse", prompt)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, err := readSSE(strings.NewReader(string(b)))
	if err != nil || len(events) < 2 {
		t.Fatalf("%d events, err %v", len(events), err)
	}
	var text strings.Builder
	for i, ev := range events {
		g := parseGemini(t, []byte(ev.data))
		text.WriteString(g.candidateText())
		last := i == len(events)-1
		if f := g.Candidates[0].FinishReason; (f != "") != last {
			t.Errorf("event %d: finishReason %q", i, f)
		}
		if u := g.UsageMetadata; u == nil || (u.CandidatesTokenCount > 0) != last {
			t.Errorf("event %d: usage %+v", i, u)
		}
	}
	_, plain := post(t, http.DefaultClient, base+chatModel+":generateContent", prompt)
	if g := parseGemini(t, plain); text.String() != g.candidateText() {
		t.Errorf("streamed %q, plain %q", text.String(), g.candidateText())
	}

	resp, b = post(t, http.DefaultClient, base+chatModel+":streamGenerateContent", prompt)
	wantGoogleError(t, resp, b, 400, "INVALID_ARGUMENT")
}

func TestGeminiErrors(t *testing.T) {
	s, base := newGeminiServer(t, func(m *config.SimModel) { m.ContextWindow = 64 })
	gen := base + chatModel + ":generateContent"
	cases := []struct {
		name, url, body string
		status          int
		gstatus         string
	}{
		{"unknown model", base + "nope:generateContent", geminiBody("hi", ""), 404, "NOT_FOUND"},
		{"unknown method", base + chatModel + ":countTokens", geminiBody("hi", ""), 404, "NOT_FOUND"},
		{"no method", base + chatModel, geminiBody("hi", ""), 404, "NOT_FOUND"},
		{"embedding model", base + embedModel + ":generateContent", geminiBody("hi", ""), 400, "INVALID_ARGUMENT"},
		{"bad json", gen, `{"contents":`, 400, "INVALID_ARGUMENT"},
		{"no contents", gen, `{}`, 400, "INVALID_ARGUMENT"},
		{"bad role", gen, `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, 400, "INVALID_ARGUMENT"},
		{"context", gen, geminiBody(strings.Repeat("long prompt ", 100), ""), 400, "INVALID_ARGUMENT"},
	}
	for _, c := range cases {
		resp, b := post(t, http.DefaultClient, c.url, c.body)
		g := wantGoogleError(t, resp, b, c.status, c.gstatus)
		if c.name == "context" && !strings.Contains(g.Error.Message, "input token count") {
			t.Errorf("context message %q", g.Error.Message)
		}
	}

	faults := []struct {
		status  int
		gstatus string
	}{{429, "RESOURCE_EXHAUSTED"}, {500, "INTERNAL"}, {503, "UNAVAILABLE"}}
	for _, f := range faults {
		if err := s.SetFaults(chatModel, config.Faults{ErrorRates: map[int]float64{f.status: 1}, RetryAfter: config.Duration(1500 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		for _, url := range []string{gen, base + chatModel + ":streamGenerateContent?alt=sse"} {
			resp, b := post(t, http.DefaultClient, url, geminiBody("hi", ""))
			g := wantGoogleError(t, resp, b, f.status, f.gstatus)
			if f.status == 429 && (len(g.Error.Details) != 1 || g.Error.Details[0].RetryDelay != "1.5s" ||
				g.Error.Details[0].Type != "type.googleapis.com/google.rpc.RetryInfo") {
				t.Errorf("429 details: %s", b)
			}
		}
	}
}

func TestGeminiOverCapacity(t *testing.T) {
	_, base := newGeminiServer(t, func(m *config.SimModel) {
		m.MaxConcurrency, m.OverCapacityStatus, m.TTFT = 1, 503, fixed(ms(300))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		http.Post(base+chatModel+":generateContent", "application/json", strings.NewReader(geminiBody("hi", "")))
	}()
	time.Sleep(100 * time.Millisecond)
	resp, b := post(t, http.DefaultClient, base+chatModel+":generateContent", geminiBody("hi", ""))
	wantGoogleError(t, resp, b, 503, "UNAVAILABLE")
	<-done
}

func TestGeminiFaults(t *testing.T) {
	s, base := newGeminiServer(t, nil)
	gen, stream := base+chatModel+":generateContent", base+chatModel+":streamGenerateContent?alt=sse"
	set := func(f config.Faults) {
		t.Helper()
		if err := s.SetFaults(chatModel, f); err != nil {
			t.Fatal(err)
		}
	}
	always := func(after int) config.Fault { return config.Fault{Rate: 1, AfterTokens: after} }

	set(config.Faults{ContentFilter: always(0)})
	resp, b := post(t, http.DefaultClient, gen, geminiBody("hi", ""))
	if g := parseGemini(t, b); resp.StatusCode != 200 || g.PromptFeedback == nil || g.PromptFeedback.BlockReason != "SAFETY" || len(g.Candidates) != 0 {
		t.Errorf("content filter: %d %s", resp.StatusCode, b)
	}
	resp, b = post(t, http.DefaultClient, stream, geminiBody("hi", ""))
	events, _ := readSSE(strings.NewReader(string(b)))
	if len(events) != 1 || parseGemini(t, []byte(events[0].data)).PromptFeedback == nil {
		t.Errorf("streamed content filter: %d %s", resp.StatusCode, b)
	}

	set(config.Faults{ErrorEvent: always(2)})
	_, b = post(t, http.DefaultClient, stream, geminiBody("hi", ""))
	events, _ = readSSE(strings.NewReader(string(b)))
	if len(events) != 3 {
		t.Fatalf("error_event: %d events: %s", len(events), b)
	}
	if g := parseGemini(t, []byte(events[2].data)); g.Error == nil || g.Error.Status != "INTERNAL" {
		t.Errorf("error event %s", events[2].data)
	}

	set(config.Faults{Malformed: always(1)})
	_, b = post(t, http.DefaultClient, stream, geminiBody("hi", ""))
	events, _ = readSSE(strings.NewReader(string(b)))
	if len(events) < 3 || events[1].data != malformedJSON {
		t.Errorf("malformed: %s", b)
	}
	resp, b = post(t, http.DefaultClient, gen, geminiBody("hi", ""))
	if resp.StatusCode != 200 || json.Valid(b) {
		t.Errorf("malformed plain answer: %d %s", resp.StatusCode, b)
	}

	set(config.Faults{Cut: always(2)})
	r, err := http.Post(stream, "application/json", strings.NewReader(geminiBody("hi", "")))
	if err != nil {
		t.Fatal(err)
	}
	events, err = readSSE(r.Body)
	r.Body.Close()
	if err == nil || len(events) != 2 {
		t.Errorf("cut: %d events, err %v", len(events), err)
	}
}

func TestGeminiEmbed(t *testing.T) {
	_, base := newGeminiServer(t, nil)
	texts := []string{"The quick brown fox.", "A lighthouse at night.", "Photosynthesis."}
	type values struct {
		Values []float32 `json:"values"`
	}
	single := make([][]float32, len(texts))
	for i, text := range texts {
		q, _ := json.Marshal(text)
		resp, b := post(t, http.DefaultClient, base+embedModel+":embedContent",
			`{"model":"models/embed","content":{"parts":[{"text":`+string(q)+`}]}}`)
		var w struct {
			Embedding values `json:"embedding"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &w) != nil || len(w.Embedding.Values) != 64 {
			t.Fatalf("embedContent: %d %s", resp.StatusCode, b)
		}
		single[i] = w.Embedding.Values
	}
	var reqs []string
	for _, text := range texts {
		q, _ := json.Marshal(text)
		reqs = append(reqs, `{"model":"models/embed","content":{"parts":[{"text":`+string(q)+`}]},"outputDimensionality":64}`)
	}
	resp, b := post(t, http.DefaultClient, base+embedModel+":batchEmbedContents", `{"requests":[`+strings.Join(reqs, ",")+`]}`)
	var w struct {
		Embeddings []values `json:"embeddings"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &w) != nil || len(w.Embeddings) != len(texts) {
		t.Fatalf("batchEmbedContents: %d %s", resp.StatusCode, b)
	}
	for i := range texts {
		if !reflect.DeepEqual(w.Embeddings[i].Values, single[i]) {
			t.Errorf("batch vector %d differs from the single one", i)
		}
	}

	resp, b = post(t, http.DefaultClient, base+embedModel+":embedContent",
		`{"content":{"parts":[{"text":"x"}]},"outputDimensionality":8}`)
	var one struct {
		Embedding values `json:"embedding"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &one) != nil || len(one.Embedding.Values) != 8 {
		t.Errorf("outputDimensionality 8: %d %s", resp.StatusCode, b)
	}
	for _, c := range []struct{ url, body string }{
		{base + embedModel + ":embedContent", `{}`},
		{base + embedModel + ":embedContent", `{"content":{"parts":[{"text":"x"}]},"outputDimensionality":9999}`},
		{base + embedModel + ":batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"x"}]}}]}`},
		{base + chatModel + ":embedContent", `{"content":{"parts":[{"text":"x"}]}}`},
	} {
		resp, b := post(t, http.DefaultClient, c.url, c.body)
		wantGoogleError(t, resp, b, 400, "INVALID_ARGUMENT")
	}
}
