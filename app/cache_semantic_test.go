package app

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

// semanticConfig: "faq" uses the semantic cache, embedding with the
// built-in local-embed. The timeout is generous: local-embed decodes its
// table on its first call, which a loaded machine running the race
// detector may take past the default 250ms over (a miss).
const semanticConfig = fastConfig + `  - name: faq
    targets: [{provider: fast, model: fast-chat}]
    cache: {semantic: true, threshold: 0.9}
cache:
  max_bytes: 1048576
  semantic: {timeout: 20s}
`

// faqChat is a chat request for faq: a system prompt, the question, and
// extra fields (`,"n":2`…).
func faqChat(system, question, extra string) string {
	return `{"model":"faq","messages":[{"role":"system","content":"` + system + `"},{"role":"user","content":"` + question + `"}],"temperature":0.7` + extra + `}`
}

const (
	question   = "How do I reset my password?"
	paraphrase = "How can I reset my password?"
)

func cacheHeader(resp *http.Response) string { return resp.Header.Get("X-Bulwark-Cache") }

func (ts *testServer) setModelFaults(t *testing.T, model, faults string) {
	t.Helper()
	resp, body := ts.do(t, "PUT", "/admin/v1/providers/fast/models/"+model+"/faults", faults)
	if resp.StatusCode != 200 {
		t.Fatalf("set faults: %d %s", resp.StatusCode, body)
	}
}

func TestSemanticCacheAnswersAParaphrase(t *testing.T) {
	ts := start(t, semanticConfig)
	resp, first := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", question, ""))
	if resp.StatusCode != 200 || cacheHeader(resp) != "miss" {
		t.Fatalf("first: %d %q %s", resp.StatusCode, cacheHeader(resp), first)
	}
	// The upstream now fails: only the cache can answer.
	ts.setFaults(t, `{"error_rates":{"500":1}}`)
	resp, second := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", paraphrase, ""))
	if resp.StatusCode != 200 || cacheHeader(resp) != "semantic" || !bytes.Equal(first, second) {
		t.Fatalf("paraphrase: %d %q %s; want the first answer %s", resp.StatusCode, cacheHeader(resp), second, first)
	}
	// The same question is an exact hit.
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", question, "")); cacheHeader(resp) != "hit" {
		t.Errorf("the same question: %q", cacheHeader(resp))
	}
	metrics := ts.metricsBody(t)
	for _, want := range []string{
		`bulwark_cache_lookups_total{alias="faq",result="semantic"} 1`,
		`bulwark_cache_lookups_total{alias="faq",result="hit"} 1`,
		`bulwark_cache_lookups_total{alias="faq",result="miss"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSemanticCacheMissesOnAnotherContextOrQuestion(t *testing.T) {
	ts := start(t, semanticConfig)
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", question, "")); cacheHeader(resp) != "miss" {
		t.Fatalf("first: %d %q %s", resp.StatusCode, cacheHeader(resp), body)
	}
	for name, body := range map[string]string{
		"another system prompt": faqChat("Answer in French.", paraphrase, ""),
		"another temperature":   strings.Replace(faqChat("Be brief.", paraphrase, ""), `"temperature":0.7`, `"temperature":0.2`, 1),
		"another question":      faqChat("Be brief.", "What is the capital of Mongolia?", ""),
		"another number":        faqChat("Be brief.", "How do I reset my password 2?", ""),
		"another alias":         strings.Replace(faqChat("Be brief.", paraphrase, ""), `"faq"`, `"chat"`, 1),
	} {
		resp, out := ts.do(t, "POST", "/v1/chat/completions", body)
		if resp.StatusCode != 200 || cacheHeader(resp) == "semantic" || resp.Header.Get("X-Bulwark-Attempts") != "1" {
			t.Errorf("%s: %d %q attempts %q %s; want an upstream call", name, resp.StatusCode, cacheHeader(resp), resp.Header.Get("X-Bulwark-Attempts"), out)
		}
	}
}

func TestSemanticCacheNeverServesToolsOrSeveralChoices(t *testing.T) {
	ts := start(t, semanticConfig)
	const tools = `,"tools":[{"type":"function","function":{"name":"reset","parameters":{"type":"object"}}}]`
	for name, extra := range map[string]string{"tools": tools, "n": `,"n":2`} {
		if resp, body := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", question, extra)); resp.StatusCode != 200 {
			t.Fatalf("%s first: %d %s", name, resp.StatusCode, body)
		}
		resp, body := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", paraphrase, extra))
		if resp.StatusCode != 200 || cacheHeader(resp) != "miss" || resp.Header.Get("X-Bulwark-Attempts") != "1" {
			t.Errorf("%s paraphrase: %d %q %s; want a miss", name, resp.StatusCode, cacheHeader(resp), body)
		}
	}
}

func TestSemanticCacheKeepsTenantsApart(t *testing.T) {
	ts := start(t, semanticConfig)
	_, a := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	_, b := createKey(t, ts, `{"id":"globex"}`, `{"tenant_id":"globex","name":"app"}`)
	if resp, body := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", question, ""), "Authorization", "Bearer "+a); cacheHeader(resp) != "miss" {
		t.Fatalf("acme: %d %q %s", resp.StatusCode, cacheHeader(resp), body)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", paraphrase, ""), "Authorization", "Bearer "+b)
	if resp.StatusCode != 200 || cacheHeader(resp) != "miss" {
		t.Errorf("globex: %d %q %s; want its own call", resp.StatusCode, cacheHeader(resp), body)
	}
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", paraphrase, ""), "Authorization", "Bearer "+a); cacheHeader(resp) != "semantic" {
		t.Errorf("acme's paraphrase: %q", cacheHeader(resp))
	}
}

func TestSemanticCacheStreamsAParaphraseFromAStream(t *testing.T) {
	ts := start(t, semanticConfig)
	stream := func(q string) string { return faqChat("Be brief.", q, `,"stream":true`) }
	resp, first := ts.do(t, "POST", "/v1/chat/completions", stream(question))
	if resp.StatusCode != 200 || cacheHeader(resp) != "miss" {
		t.Fatalf("first: %d %q %s", resp.StatusCode, cacheHeader(resp), first)
	}
	// A non-streamed paraphrase is not answered from a stream.
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", paraphrase, "")); cacheHeader(resp) != "miss" {
		t.Errorf("non-streamed paraphrase: %q", cacheHeader(resp))
	}
	resp, second := ts.do(t, "POST", "/v1/chat/completions", stream(paraphrase))
	if resp.StatusCode != 200 || cacheHeader(resp) != "semantic" || !bytes.Equal(first, second) {
		t.Errorf("streamed paraphrase: %d %q\n%s\nwant\n%s", resp.StatusCode, cacheHeader(resp), second, first)
	}
}

// TestSemanticCacheEmbeddingDownIsAMiss: the embedding alias failing
// never fails a request; it is counted.
func TestSemanticCacheEmbeddingDownIsAMiss(t *testing.T) {
	ts := start(t, strings.Replace(semanticConfig, "semantic: {timeout: 20s}", "semantic: {embedding_model: embed, timeout: 2s}", 1))
	ts.setModelFaults(t, "fast-embed", `{"error_rates":{"500":1}}`)
	for _, q := range []string{question, paraphrase} {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", q, ""))
		if resp.StatusCode != 200 || cacheHeader(resp) != "miss" {
			t.Fatalf("%s: %d %q %s", q, resp.StatusCode, cacheHeader(resp), body)
		}
	}
	if m := ts.metricsBody(t); !strings.Contains(m, `bulwark_cache_errors_total{op="embed"} 2`) {
		t.Errorf("embedding failures not counted")
	}
	// Back up: the question is indexed and its paraphrase found.
	ts.setModelFaults(t, "fast-embed", `{}`)
	ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", "What is the capital of Mongolia?", ""))
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", "What is the capital of Mongolia?", "")); cacheHeader(resp) != "hit" {
		t.Errorf("after recovery: %q", cacheHeader(resp))
	}
}

// TestSemanticCacheScaledSharesQuestionsThroughRedis: a question one
// replica cached answers its paraphrase on the other.
func TestSemanticCacheScaledSharesQuestionsThroughRedis(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := semanticConfig + "  backend: redis\n  default_ttl: 1m\n  prefix: \"bulwark-test-cache-" + hex.EncodeToString(b[:]) + ":\"\n"
	rs := scaledReplicas(t, cfg, 2)
	resp, first := rs[0].do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", question, ""))
	if resp.StatusCode != 200 || cacheHeader(resp) != "miss" {
		t.Fatalf("replica 1: %d %q %s", resp.StatusCode, cacheHeader(resp), first)
	}
	rs[1].setFaults(t, `{"error_rates":{"500":1}}`)
	resp, second := rs[1].do(t, "POST", "/v1/chat/completions", faqChat("Be brief.", paraphrase, ""))
	if resp.StatusCode != 200 || cacheHeader(resp) != "semantic" || !bytes.Equal(first, second) {
		t.Errorf("replica 2: %d %q %s", resp.StatusCode, cacheHeader(resp), second)
	}
}
