package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestValidateRules checks every rule of Validate on file input: each
// source breaks exactly one rule, reported at its path and line.
func TestValidateRules(t *testing.T) {
	cases := []struct {
		name, src string
		path      string
		line      int
		msg       string
	}{
		// Top level.
		{"listen without port", `
listen: localhost
`, "listen", 1, `"localhost" is not host:port`},
		{"listen port out of range", `
listen: ":99999"
`, "listen", 1, `port "99999" is not a number from 0 to 65535`},
		{"listen named port", `
listen: "localhost:http"
`, "listen", 1, `port "http" is not a number`},
		{"log level", `
log:
  level: verbose
`, "log.level", 2, `"verbose" is not one of debug, info, warn, error`},
		{"log level hint", `
log: {level: warning}
`, "log.level", 1, `(did you mean "warn"?)`},
		{"log format", `
log:
  format: xml
`, "log.format", 2, `"xml" is not one of json, text`},
		{"max body bytes", `
server:
  max_body_bytes: -1
`, "server.max_body_bytes", 2, "must not be negative, got -1"},
		{"stream write timeout", `
server:
  stream_write_timeout: -1s
`, "server.stream_write_timeout", 2, `negative duration "-1s"`},
		{"limits timeout", `
limits: {timeout: -5ms}
`, "limits.timeout", 1, `negative duration "-5ms"`},

		// Providers.
		{"provider name", `
providers:
  my.provider: {type: sim, models: {m: {}}}
`, `providers["my.provider"]`, 2, `provider name "my.provider" must be letters, digits, - and _`},
		{"provider type missing", `
providers:
  openai:
    base_url: https://api.openai.com/v1
`, "providers.openai.type", 2, "type is required: one of openai, anthropic, bedrock, gemini, sim"},
		{"provider type unknown", `
providers:
  openai:
    type: opneai
    base_url: https://api.openai.com/v1
`, "providers.openai.type", 3, `unknown provider type "opneai": want one of openai, anthropic, bedrock, gemini, sim, local (did you mean "openai"?)`},
		{"bedrock without region", `
providers:
  aws:
    type: bedrock
`, "providers.aws.region", 2, "region is required for a bedrock provider"},
		{"bedrock with an api key", `
providers:
  aws: {type: bedrock, region: us-east-1, api_key: abc}
`, "providers.aws.api_key", 2, "takes its credentials from the AWS chain"},
		{"bedrock endpoint", `
providers:
  aws: {type: bedrock, region: eu-west-3, endpoint: "ftp://sim"}
`, "providers.aws.endpoint", 2, "endpoint must start with http:// or https://"},
		{"region on anthropic", `
providers:
  claude: {type: anthropic, api_key: k, region: us-east-1}
`, "providers.claude", 2, "region, profile and endpoint are only for a bedrock provider"},
		{"gemini prefix", `
providers:
  g: {type: gemini, api_key: k, continue_prefix: vllm}
`, "providers.g.continue_prefix", 2, "gemini does not continue a prefix"},
		{"base_url missing", `
providers:
  openai:
    type: openai
`, "providers.openai.base_url", 2, "base_url is required for an openai provider"},
		{"base_url scheme", `
providers:
  openai:
    type: openai
    base_url: ftp://api.openai.com/v1
`, "providers.openai.base_url", 4, "base_url must start with http:// or https://"},
		{"base_url without scheme", `
providers:
  openai:
    type: openai
    base_url: api.openai.com/v1
`, "providers.openai.base_url", 4, "base_url must start with http:// or https://"},
		{"base_url host", `
providers:
  openai:
    type: openai
    base_url: https:///v1
`, "providers.openai.base_url", 4, "base_url has no host"},
		{"base_url credentials", `
providers:
  openai:
    type: openai
    base_url: https://user:secret@api.openai.com/v1
`, "providers.openai.base_url", 4, "base_url must not hold credentials"},
		{"base_url query", `
providers:
  openai:
    type: openai
    base_url: https://x.openai.azure.com/openai/deployments/{model}?api-version=2024-10-21
`, "providers.openai.base_url", 4, "base_url must not have a query or fragment (for Azure, set api_version)"},
		{"base_url invalid", `
providers:
  openai:
    type: openai
    base_url: "http://[::1"
`, "providers.openai.base_url", 4, "base_url is not a valid URL"},
		{"api_key with a newline", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: "sk-secret\n"
`, "providers.openai.api_key", 5, "the key has leading or trailing space or a control character"},
		{"header name", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    headers:
      Bad Header: x
`, `providers.openai.headers["Bad Header"]`, 6, `"Bad Header" is not a valid HTTP header name`},
		{"header value", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    headers:
      X-Team: "a\r\nX-Injected: b"
`, "providers.openai.headers.X-Team", 6, "the header value holds a control character"},
		{"openai with sim models", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    models:
      gpt-4o: {}
`, "providers.openai.models", 5, "models are only for a sim provider"},
		{"openai with seed", `
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    seed: 7
`, "providers.openai.seed", 5, "seed is only for a sim provider"},
		{"sim with base_url", `
providers:
  lab:
    type: sim
    base_url: http://localhost:9000/v1
    models: {m: {}}
`, "providers.lab.base_url", 4, "a sim provider has no base_url"},
		{"sim with api_version", `
providers:
  lab:
    type: sim
    api_version: "2024-10-21"
    models: {m: {}}
`, "providers.lab.api_version", 4, "api_version is only for an openai provider"},
		{"sim without models", `
providers:
  lab:
    type: sim
`, "providers.lab.models", 2, "a sim provider needs at least one model"},

		// Simulated models.
		{"sim model name", `
providers:
  lab:
    type: sim
    models:
      "fast chat": {}
`, `providers.lab.models["fast chat"]`, 5, `model name "fast chat" must be letters, digits`},
		{"sim kind", `
providers:
  lab:
    type: sim
    models:
      m: {kind: completion}
`, "providers.lab.models.m.kind", 5, `"completion" is not one of chat, embedding, rerank`},
		{"ttft p99 below p50", `
providers:
  lab:
    type: sim
    models:
      m:
        ttft: {p50: 50ms, p99: 10ms}
`, "providers.lab.models.m.ttft.p99", 6, "p99 10ms is below p50 50ms"},
		{"itl p99 below p50", `
providers:
  lab:
    type: sim
    models:
      m:
        itl:
          p50: 1s
          p99: 999ms
`, "providers.lab.models.m.itl.p99", 8, "p99 999ms is below p50 1s"},
		{"output tokens min above max", `
providers:
  lab:
    type: sim
    models:
      m:
        output_tokens: {min: 100, max: 10}
`, "providers.lab.models.m.output_tokens", 6, "min 100 is above max 10"},
		{"output tokens negative", `
providers:
  lab:
    type: sim
    models:
      m:
        output_tokens:
          min: -1
          max: 10
`, "providers.lab.models.m.output_tokens.min", 7, "must not be negative, got -1"},
		{"max concurrency negative", `
providers:
  lab:
    type: sim
    models:
      m: {max_concurrency: -2}
`, "providers.lab.models.m.max_concurrency", 5, "must not be negative, got -2"},
		{"queue negative", `
providers:
  lab:
    type: sim
    models:
      m: {max_concurrency: 1, queue: -1}
`, "providers.lab.models.m.queue", 5, "must not be negative"},
		{"queue without max concurrency", `
providers:
  lab:
    type: sim
    models:
      m:
        queue: 10
`, "providers.lab.models.m.queue", 6, "a queue needs max_concurrency"},
		{"over capacity status", `
providers:
  lab:
    type: sim
    models:
      m:
        over_capacity_status: 500
`, "providers.lab.models.m.over_capacity_status", 6, "must be 429 or 503, got 500"},
		{"rpm negative", `
providers:
  lab:
    type: sim
    models:
      m: {rpm: -1}
`, "providers.lab.models.m.rpm", 5, "must not be negative"},
		{"tpm negative", `
providers:
  lab:
    type: sim
    models:
      m: {tpm: -1}
`, "providers.lab.models.m.tpm", 5, "must not be negative"},
		{"sim context window negative", `
providers:
  lab:
    type: sim
    models:
      m: {context_window: -1}
`, "providers.lab.models.m.context_window", 5, "must not be negative"},
		{"dimensions negative", `
providers:
  lab:
    type: sim
    models:
      m: {kind: embedding, dimensions: -1}
`, "providers.lab.models.m.dimensions", 5, "must not be negative"},
		{"dimensions for chat", `
providers:
  lab:
    type: sim
    models:
      m: {dimensions: 256}
`, "providers.lab.models.m.dimensions", 5, "dimensions is only for an embedding model"},
		{"error status", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          error_rates:
            200: 0.1
`, "providers.lab.models.m.faults.error_rates.200", 8, "200 is not an HTTP error status (400 to 599)"},
		{"error rate above 1", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          error_rates: {"500": 1.5}
`, "providers.lab.models.m.faults.error_rates.500", 7, "a rate is a probability from 0 to 1, got 1.5"},
		{"error rates sum", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          error_rates:
            429: 0.6
            503: 0.5
`, "providers.lab.models.m.faults.error_rates", 7, "the error rates add up to 1.1; they must add up to at most 1"},
		{"fault rate negative", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          reset: {rate: -0.1}
`, "providers.lab.models.m.faults.reset.rate", 7, "a rate is a probability from 0 to 1, got -0.1"},
		{"fault rate NaN", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          no_done:
            rate: .nan
`, "providers.lab.models.m.faults.no_done.rate", 8, "got NaN"},
		{"fault after_tokens negative", `
providers:
  lab:
    type: sim
    models:
      m:
        faults:
          cut: {rate: 0.1, after_tokens: -3}
`, "providers.lab.models.m.faults.cut.after_tokens", 7, "must not be negative, got -3"},

		// Models.
		{"model name missing", `
models:
  - targets: [{provider: sim, model: sim-chat}]
`, "models[0].name", 2, "name is required"},
		{"model name characters", `
models:
  - name: "my model"
    targets: [{provider: sim, model: sim-chat}]
`, "models[0].name", 2, `model name "my model" must be letters, digits`},
		{"model name duplicate", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
`, "models[1].name", 4, `duplicate model name "chat" (first at models[0])`},
		{"no targets", `
models:
  - name: chat
`, "models[0].targets", 2, "at least one target is required"},
		{"empty targets", `
models:
  - name: chat
    targets: []
`, "models[0].targets", 3, "at least one target is required"},
		{"target provider missing", `
models:
  - name: chat
    targets:
      - model: sim-chat
`, "models[0].targets[0].provider", 4, "provider is required"},
		{"target provider unknown", `
providers:
  openai: {type: openai, base_url: "https://api.openai.com/v1"}
models:
  - name: chat
    targets:
      - provider: opena
        model: gpt-4o
`, "models[0].targets[0].provider", 6, `unknown provider "opena" (did you mean "openai"?)`},
		{"target model missing", `
models:
  - name: chat
    targets:
      - provider: sim
`, "models[0].targets[0].model", 4, "model is required"},
		{"target model with a space", `
providers:
  openai: {type: openai, base_url: "https://api.openai.com/v1"}
models:
  - name: chat
    targets:
      - provider: openai
        model: gpt 4o
`, "models[0].targets[0].model", 7, `model "gpt 4o" must have no spaces`},
		{"target model not served by the sim", `
models:
  - name: chat
    targets:
      - provider: sim
        model: sim-chta
`, "models[0].targets[0].model", 5, `sim provider "sim" has no model "sim-chta" (did you mean "sim-chat"?)`},
		{"azure deployment name", `
providers:
  azure:
    type: openai
    base_url: https://res.openai.azure.com/openai/deployments/{model}
    api_version: "2024-10-21"
models:
  - name: chat
    targets:
      - provider: azure
        model: team/gpt-4o
`, "models[0].targets[0].model", 10, `model "team/gpt-4o" replaces {model} in provider "azure"'s base_url`},
		{"weight negative", `
models:
  - name: chat
    targets:
      - {provider: sim, model: sim-chat, weight: -1}
`, "models[0].targets[0].weight", 4, "must not be negative, got -1"},
		{"fallback unknown", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    fallbacks:
      - sim-chta
`, "models[0].fallbacks[0]", 5, `unknown model "sim-chta" (did you mean "sim-chat"?)`},
		{"fallback to itself", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [sim-chat, chat]
`, "models[0].fallbacks[1]", 4, `"chat" cannot fall back to itself`},
		{"fallback twice", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [sim-chat, sim-chat]
`, "models[0].fallbacks[1]", 4, `"sim-chat" is listed twice`},
		{"fallback empty", `
models:
  - name: chat
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [""]
`, "models[0].fallbacks[0]", 4, "this one is empty"},
		{"fallback cycle", `
models:
  - name: a
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [b]
  - name: b
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [c]
  - name: c
    targets: [{provider: sim, model: sim-chat}]
    fallbacks: [sim-chat, a]
`, "models[2].fallbacks[1]", 10, "fallback cycle: a → b → c → a"},
		{"context window negative", `
models:
  - name: chat
    context_window: -1
    targets: [{provider: sim, model: sim-chat}]
`, "models[0].context_window", 3, "must not be negative, got -1"},

		// Async work.
		{"webhook retention", `
async: {webhook_retention: 30s}
`, "async.webhook_retention", 1, "must be from 1m to 87600h (ten years), got 30s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, y(tc.src), nil)
			checkOne(t, ps, tc.path, tc.line, tc.msg)
		})
	}
}

// TestValidateInCode checks Validate on a Config built in code: the same
// paths, no lines, and durations checked that a file cannot hold.
func TestValidateInCode(t *testing.T) {
	c := Default()
	c.Server.IdleTimeout = -1
	c.Providers["openai"] = Provider{Type: ProviderOpenAI, BaseURL: "https://api.openai.com/v1", ConnectTimeout: -1}
	sim := c.Providers[BuiltinSim]
	m := sim.SimModels[SimChat]
	m.TTFT.P50 = -1
	m.Faults.RetryAfter = -1
	m.Faults.Stall.Delay = -1
	sim.SimModels[SimChat] = m
	c.Models = append(c.Models, Model{Name: "chat", Targets: []Target{{Provider: "openai", Model: "gpt-4o", Weight: -1}}, Fallbacks: []string{"nope"}})

	var ps Problems
	if !errors.As(c.Validate(), &ps) {
		t.Fatalf("Validate: %v", c.Validate())
	}
	want := strings.Join([]string{
		"server.idle_timeout: must not be negative, got -1ns",
		"providers.openai.connect_timeout: must not be negative, got -1ns",
		"providers.sim.models.sim-chat.ttft.p50: must not be negative, got -1ns",
		"providers.sim.models.sim-chat.faults.retry_after: must not be negative, got -1ns",
		"providers.sim.models.sim-chat.faults.stall.delay: must not be negative, got -1ns",
		"models[3].targets[0].weight: must not be negative, got -1",
		`models[3].fallbacks[0]: unknown model "nope"`,
	}, "\n")
	if got := ps.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestValidateNaNInCode(t *testing.T) {
	c := Default()
	sim := c.Providers[BuiltinSim]
	m := sim.SimModels[SimChat]
	m.Faults.ErrorRates = map[int]float64{500: math.NaN()}
	sim.SimModels[SimChat] = m
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "error_rates.500: a rate is a probability from 0 to 1, got NaN") {
		t.Errorf("got %v", err)
	}
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate():\n%v", err)
	}
	// A zero field means "the default", so the zero Config is valid too.
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("Config{}.Validate():\n%v", err)
	}
	c := &Config{DisableBuiltinSim: true}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil || len(c.Providers) != 1 || len(c.Models) != 1 || c.Models[0].Name != LocalEmbed {
		t.Errorf("without the built-in sim, only the built-in embedding model stays: %v %+v", err, c)
	}
}

// A file's own "sim" provider replaces the built-in one; the built-in
// aliases are not added pointing at models it does not serve.
func TestOwnSimProvider(t *testing.T) {
	c := mustParse(t, y(`
providers:
  sim:
    type: sim
    models:
      sim-chat: {}
      other: {}
`), nil)
	var names []string
	for _, m := range c.Models {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != SimChat+","+LocalEmbed {
		t.Errorf("aliases %v, want only %s and %s", names, SimChat, LocalEmbed)
	}
	if c.Providers[BuiltinSim].Seed != 1 {
		t.Errorf("seed default not applied")
	}
}

// A duplicate key is reported, and the first entry is still validated.
func TestDuplicateKeyStillValidatesTheFirst(t *testing.T) {
	ps := problemsOf(t, y(`
providers:
  a: {type: simm, models: {m: {}}}
  a: {type: sim, models: {m: {}}}
`), nil)
	want := "providers.a.type (line 2): unknown provider type \"simm\": want one of openai, anthropic, bedrock, gemini, sim, local (did you mean \"sim\"?)\n" +
		"providers.a (line 3): duplicate key \"a\" (first at line 2)"
	if ps.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", ps, want)
	}
}

func TestValidateLinesAfterEdit(t *testing.T) {
	// A Config parsed from a file keeps its line index: a problem
	// introduced after parsing is reported at the line of the value.
	c := mustParse(t, y(`
models:
  - name: chat
    targets:
      - provider: sim
        model: sim-chat
`), nil)
	c.Models[0].Targets[0].Model = "gone"
	var ps Problems
	if !errors.As(c.Validate(), &ps) {
		t.Fatal("no problems")
	}
	checkOne(t, ps, "models[0].targets[0].model", 5, `has no model "gone"`)
}
