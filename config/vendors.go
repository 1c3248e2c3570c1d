package config

import (
	"regexp"
)

// The providers of vendors whose API is not OpenAI's: each has its own
// package under llm/ that translates OpenAI's chat format to its API
// (llm/oai) and back.
const (
	// ProviderAnthropic is Anthropic's Messages API (base_url defaults to
	// https://api.anthropic.com; api_key is sent as x-api-key).
	ProviderAnthropic = "anthropic"
	// ProviderBedrock is Amazon Bedrock's Converse API through the AWS
	// SDK: credentials from the standard chain (environment, shared
	// config and its profile, web identity, instance role), region
	// required, endpoint to override the service's URL (bulwark sim).
	ProviderBedrock = "bedrock"
	// ProviderGemini is Google's Gemini API (base_url defaults to
	// https://generativelanguage.googleapis.com/v1beta; api_key is sent as
	// x-goog-api-key).
	ProviderGemini = "gemini"
	// ProviderLocal is the embedding model built into the binary
	// (llm/local): CPU, offline, no settings.
	ProviderLocal = "local"
)

// ContinuePrefill declares that a bedrock provider's models continue a
// trailing assistant message (Anthropic's models on Bedrock do; others may
// not, so it is declared, not assumed).
const ContinuePrefill = "prefill"

// providerTypes are every provider type, as validation lists them.
var providerTypes = []string{ProviderOpenAI, ProviderAnthropic, ProviderBedrock, ProviderGemini, ProviderSim, ProviderLocal}

// awsRegion is an AWS region name such as us-east-1 or eu-central-2.
var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)

// vendor checks the provider of a vendor other than OpenAI.
func (v *validator) vendor(path string, p Provider) {
	if p.APIVersion != "" {
		v.add(path+".api_version", "api_version is only for an openai provider")
	}
	if len(p.SimModels) > 0 {
		v.add(path+".models", "models are only for a sim provider")
	}
	switch {
	case p.ContinuePrefix == "":
	case p.Type == ProviderAnthropic:
		v.add(path+".continue_prefix", "anthropic continues a prefix (assistant prefill) without being told: leave continue_prefix out")
	case p.Type == ProviderBedrock:
		if p.ContinuePrefix != ContinuePrefill {
			v.add(path+".continue_prefix", "a bedrock provider continues a prefix as %s (Anthropic's models on Bedrock), got %q", ContinuePrefill, p.ContinuePrefix)
		}
	default:
		v.add(path+".continue_prefix", "%s does not continue a prefix", p.Type)
	}
	v.apiKey(path+".api_key", p.APIKey)
	v.headers(path+".headers", p.Headers)
	switch p.Type {
	case ProviderBedrock:
		if p.BaseURL != "" {
			v.add(path+".base_url", "a bedrock provider takes endpoint, not base_url")
		}
		if p.APIKey != "" {
			v.add(path+".api_key", "a bedrock provider takes its credentials from the AWS chain (environment, profile, role), not api_key")
		}
		if !awsRegion.MatchString(p.Region) {
			v.add(path+".region", "region is required for a bedrock provider: an AWS region such as us-east-1, got %q", p.Region)
		}
		if p.Endpoint != "" {
			v.url(path+".endpoint", p.Endpoint)
		}
	default:
		if p.Region != "" || p.Profile != "" || p.Endpoint != "" {
			v.add(path, "region, profile and endpoint are only for a bedrock provider")
		}
		if p.BaseURL != "" {
			v.url(path+".base_url", p.BaseURL)
		}
	}
}

// local checks the built-in embedding model's provider: it takes no
// settings.
func (v *validator) local(path string, p Provider) {
	if p.BaseURL != "" || p.APIKey != "" || len(p.Headers) > 0 || p.Region != "" || p.Profile != "" || p.Endpoint != "" ||
		len(p.SimModels) > 0 || p.Seed != 0 || p.ContinuePrefix != "" {
		v.add(path, "a local provider takes no settings: it is the embedding model built into Bulwark")
	}
}
