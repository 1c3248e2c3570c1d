package guard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
)

// benchPrompt is a typical 1.2 KB user message with one e-mail address.
var benchPrompt = strings.Repeat("Our service answers customer questions about orders, refunds and delivery times. ", 12) +
	"Please reply to jane.doe@example.com with the summary."

// BenchmarkCheck is the latency each check adds to a request, scanning a
// typical message (BENCHMARKS.md, "Guardrails (issue 17)").
func BenchmarkCheck(b *testing.B) {
	ts := []Text{{Role: "system", Content: "You are a helpful support agent."}, {Role: "user", Content: benchPrompt}}
	checks := []Check{PII{}, NewDeniedTerms([]string{"acme", "project falcon", "internal only", "confidential"}), NewInjection(Input, 0), MaxChars(100000)}
	for _, c := range checks {
		b.Run(c.Name(), func(b *testing.B) {
			b.SetBytes(int64(len(benchPrompt)))
			b.ReportAllocs()
			for b.Loop() {
				c.Scan(ts)
			}
		})
	}
	b.Run("pii_mask", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			PII{}.Mask(benchPrompt)
		}
	})
}

// BenchmarkInjectionLabelledSet is the injection score's cost per prompt
// of the labelled set (short prompts, 20 to 300 bytes).
func BenchmarkInjectionLabelledSet(b *testing.B) {
	set := labelled(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range set {
			Score(s.text)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(set)), "ns/prompt")
}

// BenchmarkBedrockCall is what the bedrock check adds besides Bedrock's
// own time: building, signing (SigV4) and sending ApplyGuardrail and
// reading its answer, against a local server that answers at once
// (BENCHMARKS.md, "Guardrails (issue 17)").
func BenchmarkBedrockCall(b *testing.B) {
	b.Setenv("AWS_ACCESS_KEY_ID", "AKIDGUARDTEST")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "guard-test-secret")
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"action":"NONE","outputs":[],"assessments":[{}],"usage":{"contentPolicyUnits":1}}`)
	}))
	defer srv.Close()
	p, err := New(config.Guardrails{Input: []config.GuardCheck{{Check: "bedrock", Action: "block", OnError: "closed",
		GuardrailID: "gr-1", GuardrailVersion: "1", Region: "us-east-1", Endpoint: srv.URL}}})
	if err != nil {
		b.Fatal(err)
	}
	ts := []Text{{Role: "system", Content: "You are a helpful support agent."}, {Role: "user", Content: benchPrompt}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Input.Run(context.Background(), Env{}, ts); err != nil {
			b.Fatal(err)
		}
	}
}
