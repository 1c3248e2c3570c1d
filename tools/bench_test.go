package tools

import (
	"testing"

	"github.com/bulwark-ai/bulwark/config"
)

// BenchmarkGovern is the cost added to a request declaring three tools,
// one of which an allowlist removes (the body is rewritten).
func BenchmarkGovern(b *testing.B) {
	allow := Allowlists{{"search_*", "web_search"}, nil, {"search_web", "web_search"}}
	for b.Loop() {
		if _, _, err := Govern([]byte(body), allow, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckAnswer is the cost added to an answer with two tool
// calls whose arguments are validated against a schema (compiled once
// per request, as the gateway does).
func BenchmarkCheckAnswer(b *testing.B) {
	p := New(config.ModelTools{ValidateArguments: true, MaxCalls: 4}, config.ModelResponseFormat{})
	resp := answer(tc("1", "search_web", `{"q":"weather in oslo"}`), tc("2", "search_web", `{"q":"news"}`))
	for b.Loop() {
		_, r, _ := Govern([]byte(body), nil, false)
		a, err := Read(resp)
		if err != nil {
			b.Fatal(err)
		}
		if vs := p.CheckCalls(r, a.Calls); len(vs) != 0 {
			b.Fatal(vs)
		}
	}
}
