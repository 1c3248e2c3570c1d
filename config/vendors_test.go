package config

import "testing"

func TestVendorProvidersParse(t *testing.T) {
	c, err := Parse([]byte(`
disable_builtin_sim: true
providers:
  claude: {type: anthropic, api_key: "k-1"}
  claude-east: {type: bedrock, region: us-east-1, profile: prod, continue_prefix: prefill}
  claude-drill: {type: bedrock, region: eu-west-1, endpoint: "http://127.0.0.1:8081"}
  gemini: {type: gemini, api_key: "k-2", base_url: "https://generativelanguage.googleapis.com/v1beta"}
models:
  - name: chat
    targets:
      - {provider: claude, model: claude-sonnet-4-5}
      - {provider: claude-east, model: us.anthropic.claude-sonnet-4-5-20250929-v1:0}
      - {provider: gemini, model: gemini-2.5-flash}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Providers["claude-east"]; p.Type != ProviderBedrock || p.Region != "us-east-1" || p.Profile != "prod" {
		t.Errorf("bedrock: %+v", p)
	}
	if p := c.Providers["claude-drill"]; p.Endpoint != "http://127.0.0.1:8081" {
		t.Errorf("endpoint: %+v", p)
	}
}
