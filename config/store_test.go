package config

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestStorePricesLimits(t *testing.T) {
	c := mustParse(t, y(`
store: {type: postgres, url: "${PG}"}
prices:
  gpt-4o: {input: 2.5, output: 10, cached_input: 1.25}
  azure/gpt-4o: {input: 2.75, output: 11}
limits: {backend: redis, redis_url: "${RD}", prefix: "b:", fallback_share: 0.5}
`), env("PG", "postgres://u:pg-secret@db/bulwark", "RD", "redis://:rd-secret@cache:6379/0"))
	if c.Store.Type != StorePostgres || c.Store.URL != "postgres://u:pg-secret@db/bulwark" {
		t.Errorf("store = %+v", c.Store)
	}
	if p := c.Prices["gpt-4o"]; p.Input != 2.5 || p.Output != 10 || p.CachedInput != 1.25 {
		t.Errorf("prices = %+v", c.Prices)
	}
	if c.Limits.Backend != LimitsRedis || c.Limits.FallbackShare != 0.5 || c.Limits.Prefix != "b:" {
		t.Errorf("limits = %+v", c.Limits)
	}
	r := c.Redacted()
	for _, marshal := range []func(any) ([]byte, error){yaml.Marshal, json.Marshal} {
		out, err := marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "secret") {
			t.Errorf("redacted config shows a secret:\n%s", out)
		}
	}
	if r.Store.URL != RedactedValue || r.Limits.RedisURL != RedactedValue || c.Store.URL == RedactedValue {
		t.Errorf("redacted store %+v, limits %+v", r.Store, r.Limits)
	}
}

func TestStorePricesLimitsValidate(t *testing.T) {
	_, err := Parse(y(`
store: {type: mysql}
prices:
  gpt-4o: {input: -1, output: 10}
limits: {backend: redis, fallback_share: 2}
`), env())
	if err == nil {
		t.Fatal("Parse accepted a bad store, price and limits")
	}
	for _, want := range []string{"store.type", "prices.gpt-4o.input", "limits.redis_url", "limits.fallback_share"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	_, err = Parse(y(`store: {type: postgres}`), env())
	if err == nil || !strings.Contains(err.Error(), "store.url") {
		t.Errorf("postgres without url: %v", err)
	}
}
