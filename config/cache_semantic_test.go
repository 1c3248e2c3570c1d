package config

import (
	"strings"
	"testing"
	"time"
)

func TestSemanticCacheParsesAndValidates(t *testing.T) {
	c, err := Parse([]byte(`
models:
  - name: faq
    targets: [{provider: sim, model: sim-chat}]
    cache: {semantic: true, threshold: 0.93}
  - name: help
    targets: [{provider: sim, model: sim-chat}]
    cache: {semantic: true}
cache:
  semantic: {embedding_model: sim-embed, threshold: 0.95, timeout: 100ms}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	faq := c.Models[0].Cache
	if !faq.Uses(false, false) || faq.Threshold != 0.93 || !c.CacheActive() || !c.SemanticActive() {
		t.Errorf("faq %+v: semantic caches every request of the alias", faq)
	}
	d := c.Cache.Semantic.SemanticDefaults()
	if d.EmbeddingModel != "sim-embed" || d.Threshold != 0.95 || d.Timeout.D() != 100*time.Millisecond ||
		d.MaxBytes != DefaultSemanticMaxBytes || d.MaxPerBucket != DefaultSemanticMaxPerBucket {
		t.Errorf("defaults %+v", d)
	}
	if d := (SemanticCache{}).SemanticDefaults(); d.EmbeddingModel != LocalEmbed {
		t.Errorf("default embedding model %q", d.EmbeddingModel)
	}
	if Default().SemanticActive() {
		t.Error("the default config uses the semantic cache")
	}
}

func TestSemanticCacheProblems(t *testing.T) {
	const alias = "models: [{name: x, targets: [{provider: sim, model: sim-chat}], cache: %s}]\n"
	for yaml, want := range map[string]string{
		strings.Replace(alias, "%s", "{semantic: true}", 1):                                                                "models[0].cache.threshold (line 1): is required: local-embed has no calibrated default threshold",
		strings.Replace(alias, "%s", "{semantic: true, threshold: 1.5}", 1):                                                "models[0].cache.threshold (line 1): threshold 1.5 is not between 0 and 1",
		strings.Replace(alias, "%s", "{threshold: 0.9}", 1):                                                                "models[0].cache.threshold (line 1): is set but semantic is not",
		strings.Replace(alias, "%s", "{semantic: true, threshold: 0.9, exact: false}", 1):                                  "models[0].cache.semantic (line 1): semantic: true caches",
		strings.Replace(alias, "%s", "{semantic: true, threshold: 0.9}", 1) + "cache: {semantic: {embedding_model: nope}}": `cache.semantic.embedding_model (line 2): "nope" is not a model alias`,
		"cache: {semantic: {threshold: -0.1}}":                                                                             "cache.semantic.threshold (line 1): threshold -0.1 is not between 0 and 1",
		"cache: {semantic: {timeout: 5}}":                                                                                  "cache.semantic.timeout",
		"cache: {semantic: {max_per_bucket: -1}}":                                                                          "cache.semantic.max_per_bucket (line 1): must not be negative",
		"cache: {semantic: {dims: 3}}":                                                                                     "cache.semantic.dims",
	} {
		c, err := Parse([]byte(yaml), nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v; want %q", yaml, err, want)
		}
	}
}
