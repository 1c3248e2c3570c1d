package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// vendorSim is one simulator serving Anthropic's Messages API, Gemini's
// API and OpenAI's over HTTP, as three vendors would.
func vendorSim(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	s := sim.New("vendors", 1, map[string]config.SimModel{
		"claude": {OutputTokens: config.Range{Min: 6, Max: 6}},
		"gem":    {OutputTokens: config.Range{Min: 5, Max: 5}},
		"gpt":    {OutputTokens: config.Range{Min: 4, Max: 4}},
	})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, fmt.Sprintf(`
log: {level: warn}
telemetry: {request_log: {enabled: true}}
providers:
  claude: {type: anthropic, api_key: "sk-ant-test", base_url: %q}
  google: {type: gemini, api_key: "g-test", base_url: %q}
  openai: {type: openai, api_key: "sk-test", base_url: %q}
prices:
  claude/claude: {input: 3, output: 15}
  google/gem: {input: 0.3, output: 2.5}
models:
  - name: assistant
    targets: [{provider: claude, model: claude}]
    fallbacks: [assistant-gemini, assistant-gpt]
    retry: {max_attempts: 6, backoff: {base: 5ms, max: 10ms}}
  - name: assistant-gemini
    targets: [{provider: google, model: gem}]
  - name: assistant-gpt
    targets: [{provider: openai, model: gpt}]
`, srv.URL, srv.URL+"/v1beta", srv.URL+"/v1")
}

// Claude on Anthropic, then Gemini, then GPT, behind one alias: clients
// get OpenAI completions and chunks whichever vendor answered, a vendor's
// failure fails over to the next vendor, each answer is billed at its own
// target's price from the vendor's own usage, and Anthropic SDK clients
// reach every vendor through /v1/messages.
func TestCrossVendorFallbackThroughOneTranslationLayer(t *testing.T) {
	s, cfg := vendorSim(t)
	ts := start(t, cfg)
	body := `{"model":"assistant","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}],"max_tokens":32}`

	resp, out := ts.do(t, "POST", "/v1/chat/completions", body)
	var c struct {
		Object  string
		Choices []struct {
			Message      struct{ Role, Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(out, &c) != nil || c.Object != "chat.completion" || len(c.Choices) != 1 ||
		c.Choices[0].Message.Content == "" || c.Choices[0].FinishReason != "stop" || c.Usage.CompletionTokens != 6 {
		t.Fatalf("claude: %d %s", resp.StatusCode, out)
	}
	if got := resp.Header.Get("X-Bulwark-Target"); got != "claude/claude" {
		t.Errorf("answered by %q, want claude/claude", got)
	}

	resp, out = ts.do(t, "POST", "/v1/chat/completions", strings.Replace(body, `"max_tokens":32`, `"max_tokens":32,"stream":true,"stream_options":{"include_usage":true}`, 1))
	text, done, usage := readChunks(t, out)
	if resp.StatusCode != 200 || text == "" || !done || usage != 6 {
		t.Fatalf("claude stream: %d text %q done %v usage %d\n%s", resp.StatusCode, text, done, usage, out)
	}

	// Anthropic overloaded: the alias fails over to Gemini.
	if err := s.SetFaults("claude", config.Faults{ErrorRates: map[int]float64{529: 1}}); err != nil {
		t.Fatal(err)
	}
	resp, out = ts.do(t, "POST", "/v1/chat/completions", body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Target") != "google/gem" || json.Unmarshal(out, &c) != nil || c.Usage.CompletionTokens != 5 {
		t.Fatalf("failover to gemini: %d %s %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Target"), out)
	}

	// And Gemini throttled too: GPT answers.
	if err := s.SetFaults("gem", config.Faults{ErrorRates: map[int]float64{429: 1}}); err != nil {
		t.Fatal(err)
	}
	resp, out = ts.do(t, "POST", "/v1/chat/completions", body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Target") != "openai/gpt" {
		t.Fatalf("failover to gpt: %d %s %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Target"), out)
	}

	// An Anthropic SDK client, same alias, answered by GPT in Anthropic's shape.
	resp, out = ts.do(t, "POST", "/v1/messages", `{"model":"assistant","max_tokens":32,"messages":[{"role":"user","content":"Hello there"}]}`,
		"anthropic-version", "2023-06-01")
	var m struct {
		Type       string
		Role       string
		Content    []struct{ Type, Text string }
		StopReason string `json:"stop_reason"`
		Usage      struct {
			OutputTokens int `json:"output_tokens"`
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(out, &m) != nil || m.Type != "message" || len(m.Content) != 1 ||
		m.Content[0].Text == "" || m.StopReason != "end_turn" || m.Usage.OutputTokens != 4 {
		t.Fatalf("messages API: %d %s", resp.StatusCode, out)
	}

	// Each answer is in the ledger and the request log with the vendor's
	// own usage: 2 Claude answers (6 tokens out each), 1 Gemini (5), 2
	// GPT (4), priced where the table prices the target.
	u := waitUsage(t, ts, "group_by=alias", 5)
	if len(u.Data) != 1 || u.Data[0].CompletionTokens != 2*6+5+2*4 || u.Data[0].Cost <= 0 {
		t.Errorf("usage %+v", u.Data)
	}
	byTarget := map[string]int{}
	for _, r := range waitRequests(t, ts, "", 5) {
		byTarget[r.Target]++
	}
	if byTarget["claude/claude"] != 2 || byTarget["google/gem"] != 1 || byTarget["openai/gpt"] != 2 {
		t.Errorf("request log by target %v", byTarget)
	}
}

// readChunks reads an OpenAI SSE body: the text, whether [DONE] came, and
// the usage chunk's completion tokens.
func readChunks(t *testing.T, body []byte) (text string, done bool, completion int) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var ck struct {
			Choices []struct {
				Delta struct{ Content string }
			}
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(data), &ck); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, c := range ck.Choices {
			text += c.Delta.Content
		}
		if ck.Usage != nil {
			completion = ck.Usage.CompletionTokens
		}
	}
	return text, done, completion
}

// A bedrock provider pointed at the simulator (endpoint), with credentials
// from the environment as the AWS chain reads them: plain, streamed and
// through Anthropic's Messages API.
func TestBedrockTargetThroughTheSimulator(t *testing.T) {
	for _, k := range []string{"AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE", "AWS_SESSION_TOKEN", "AWS_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBULWARKTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "bulwark-test-secret")
	s := sim.New("aws", 1, map[string]config.SimModel{"us.anthropic.claude-test-v1:0": {OutputTokens: config.Range{Min: 7, Max: 7}}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ts := start(t, fmt.Sprintf(`
log: {level: warn}
providers:
  aws: {type: bedrock, region: us-east-1, endpoint: %q}
models:
  - name: claude
    targets: [{provider: aws, model: "us.anthropic.claude-test-v1:0"}]
`, srv.URL))
	body := `{"model":"claude","messages":[{"role":"user","content":"Hello there"}],"max_tokens":32}`
	resp, out := ts.do(t, "POST", "/v1/chat/completions", body)
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"completion_tokens":7`) || resp.Header.Get("X-Bulwark-Target") != "aws/us.anthropic.claude-test-v1:0" {
		t.Fatalf("chat: %d %s", resp.StatusCode, out)
	}
	resp, out = ts.do(t, "POST", "/v1/chat/completions", strings.Replace(body, `"max_tokens":32`, `"max_tokens":32,"stream":true,"stream_options":{"include_usage":true}`, 1))
	if text, done, n := readChunks(t, out); resp.StatusCode != 200 || text == "" || !done || n != 7 {
		t.Fatalf("stream: %d %q %v %d", resp.StatusCode, text, done, n)
	}
	resp, out = ts.do(t, "POST", "/v1/messages", `{"model":"claude","max_tokens":32,"messages":[{"role":"user","content":"Hello there"}]}`,
		"anthropic-version", "2023-06-01")
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"type":"message"`) {
		t.Fatalf("messages: %d %s", resp.StatusCode, out)
	}
	if strings.Contains(string(out), "bulwark-test-secret") || strings.Contains(string(out), "AKIDBULWARKTEST") {
		t.Fatal("a credential reached the client")
	}
}

// An upstream that cannot be reached fails the request with an error that
// says so, but not where the upstream is.
func TestUnreachableUpstreamErrorHoldsNoAddress(t *testing.T) {
	ts := start(t, `
log: {level: warn}
providers:
  lab: {type: openai, base_url: "http://127.0.0.1:1/v1"}
  claude: {type: anthropic, api_key: k, base_url: "http://127.0.0.1:1"}
models:
  - name: lab
    targets: [{provider: lab, model: m}]
    retry: {max_attempts: 1}
  - name: claude
    targets: [{provider: claude, model: m}]
    retry: {max_attempts: 1}
`)
	for _, alias := range []string{"lab", "claude"} {
		resp, out := ts.do(t, "POST", "/v1/chat/completions", `{"model":"`+alias+`","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 502 || !strings.Contains(string(out), "connection refused") || strings.Contains(string(out), "127.0.0.1") {
			t.Errorf("%s: %d %s", alias, resp.StatusCode, out)
		}
	}
}
