package config

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Name syntax. A provider name appears in metrics labels and paths; an
// alias or simulated model name is what clients send as "model", so it may
// hold the punctuation real model names use (gpt-4o-mini,
// meta-llama/Llama-3.1-8B-Instruct, llama3.1:8b).
var (
	providerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	modelName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$`)
	// deploymentName is a target model substituted into a base_url's
	// {model}: it becomes one URL path segment.
	deploymentName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	headerName     = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Log levels and formats.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"json", "text"}
	simKinds   = []string{SimKindChat, SimKindEmbedding, SimKindRerank}
)

// Simulated model kinds.
const (
	SimKindChat      = "chat"
	SimKindEmbedding = "embedding"
	SimKindRerank    = "rerank"
)

// Validate checks the configuration and returns Problems listing every
// problem found, or nil. A zero field is valid wherever zero means "the
// default", so Validate gives the same answer before and after
// ApplyDefaults. When the Config was parsed from a file, each problem
// carries the line of the value it is about (or of the nearest enclosing
// value the file holds).
func (c *Config) Validate() error {
	v := &validator{lines: c.lines}
	v.top(c)
	v.problems.sortByLine()
	return v.problems.err()
}

type validator struct {
	lines    map[string]int
	problems Problems
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Line: lineOf(v.lines, path), Message: fmt.Sprintf(format, args...)})
}

func (v *validator) nonNegative(path string, n int64) {
	if n < 0 {
		v.add(path, "must not be negative, got %d", n)
	}
}

func (v *validator) duration(path string, d Duration) {
	if d < 0 {
		v.add(path, "must not be negative, got %s", d)
	}
}

func (v *validator) oneOf(path, s string, allowed []string) {
	if s != "" && !slices.Contains(allowed, s) {
		v.add(path, "%q is not one of %s%s", s, strings.Join(allowed, ", "), didYouMean(s, allowed))
	}
}

func (v *validator) top(c *Config) {
	if c.Listen != "" {
		v.listen(c.Listen)
	}
	v.oneOf("log.level", c.Log.Level, logLevels)
	v.oneOf("log.format", c.Log.Format, logFormats)

	s := c.Server
	v.nonNegative("server.max_body_bytes", s.MaxBodyBytes)
	v.duration("server.read_header_timeout", s.ReadHeaderTimeout)
	v.duration("server.idle_timeout", s.IdleTimeout)
	v.duration("server.shutdown_grace", s.ShutdownGrace)
	v.duration("server.request_timeout", s.RequestTimeout)

	names := make([]string, 0, len(c.Providers))
	for name := range c.Providers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v.provider(childKey("providers", name), name, c.Providers[name])
	}
	v.models(c)
	v.telemetry(c)
	v.capacity(c)
	v.store(c)
	v.knowledge(c)
	v.responses(c)
	v.cache(c)
	v.aliasKnowledge(c)
	v.guardrails(c)
	v.tools(c)
	v.backup(c)
	v.async(c)
}

func (v *validator) listen(addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add("listen", "%q is not host:port (write it like 127.0.0.1:8080 or :8080)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("listen", "port %q is not a number from 0 to 65535", port)
	}
}

func (v *validator) provider(path, name string, p Provider) {
	if !providerName.MatchString(name) {
		v.add(path, "provider name %q must be letters, digits, - and _, starting with a letter or digit (at most 64)", name)
	}
	v.duration(path+".connect_timeout", p.ConnectTimeout)
	v.loadMetrics(path+".load_metrics", p)
	if p.Type == ProviderOpenAI || p.Type == ProviderSim {
		v.continuePrefix(path+".continue_prefix", p.ContinuePrefix)
	}
	switch p.Type {
	case ProviderOpenAI:
		v.openAI(path, p)
	case ProviderSim:
		v.sim(path, p)
	case ProviderAnthropic, ProviderBedrock, ProviderGemini:
		v.vendor(path, p)
	case ProviderLocal:
		v.local(path, p)
	case "":
		v.add(path+".type", "type is required: one of %s", strings.Join(providerTypes, ", "))
	default:
		v.add(path+".type", "unknown provider type %q: want one of %s%s", p.Type, strings.Join(providerTypes, ", "),
			didYouMean(p.Type, providerTypes))
	}
}

func (v *validator) openAI(path string, p Provider) {
	v.baseURL(path+".base_url", p.BaseURL)
	v.apiKey(path+".api_key", p.APIKey)
	v.headers(path+".headers", p.Headers)
	if p.Region != "" || p.Profile != "" || p.Endpoint != "" {
		v.add(path, "region, profile and endpoint are only for a bedrock provider")
	}
	if len(p.SimModels) > 0 {
		v.add(path+".models", "models are only for a sim provider; an openai provider serves the models its aliases' targets name")
	}
	if p.Seed != 0 {
		v.add(path+".seed", "seed is only for a sim provider")
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// apiKey checks a provider's key; the key itself is never repeated in a
// message.
func (v *validator) apiKey(path, key string) {
	if key != "" && (strings.TrimSpace(key) != key || strings.ContainsFunc(key, isControl)) {
		v.add(path, "the key has leading or trailing space or a control character (a newline from a secret file?)")
	}
}

// headers checks the extra headers of a provider.
func (v *validator) headers(path string, hs map[string]string) {
	names := make([]string, 0, len(hs))
	for h := range hs {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		hp := childKey(path, h)
		if !headerName.MatchString(h) {
			v.add(hp, "%q is not a valid HTTP header name", h)
		}
		if strings.ContainsFunc(hs[h], isControl) {
			v.add(hp, "the header value holds a control character")
		}
	}
}

func (v *validator) baseURL(path, raw string) {
	if raw == "" {
		v.add(path, "base_url is required for an openai provider (e.g. https://api.openai.com/v1)")
		return
	}
	v.url(path, raw)
}

// url checks an http(s) URL a provider calls: {model}, Azure's deployment
// placeholder, is allowed in it.
func (v *validator) url(path, raw string) {
	field := path[strings.LastIndexByte(path, '.')+1:]
	// {model} is the Azure deployment placeholder, replaced per target.
	u, err := url.Parse(strings.ReplaceAll(raw, "{model}", "model"))
	switch {
	case err != nil || strings.ContainsFunc(raw, isControl):
		v.add(path, "%s is not a valid URL", field)
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, "%s must start with http:// or https://", field)
	case u.User != nil:
		v.add(path, "%s must not hold credentials; put the key in api_key", field)
	case u.Host == "" || u.Hostname() == "":
		v.add(path, "%s has no host", field)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.add(path, "%s must not have a query or fragment (for Azure, set api_version)", field)
	}
}

func (v *validator) sim(path string, p Provider) {
	if p.BaseURL != "" {
		v.add(path+".base_url", "a sim provider has no base_url: it runs inside Bulwark")
	}
	if p.APIVersion != "" {
		v.add(path+".api_version", "api_version is only for an openai provider")
	}
	if len(p.SimModels) == 0 {
		v.add(path+".models", "a sim provider needs at least one model")
	}
	names := make([]string, 0, len(p.SimModels))
	for name := range p.SimModels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v.simModel(childKey(path+".models", name), name, p.SimModels[name])
	}
}

func (v *validator) simModel(path, name string, m SimModel) {
	if !modelName.MatchString(name) {
		v.add(path, "model name %q must be letters, digits and . _ - : / @ +, starting with a letter or digit (at most 128)", name)
	}
	v.oneOf(path+".kind", m.Kind, simKinds)
	v.latency(path+".ttft", m.TTFT)
	v.latency(path+".itl", m.ITL)

	r := m.OutputTokens
	v.nonNegative(path+".output_tokens.min", int64(r.Min))
	v.nonNegative(path+".output_tokens.max", int64(r.Max))
	if r.Min > r.Max {
		v.add(path+".output_tokens", "min %d is above max %d", r.Min, r.Max)
	}
	v.nonNegative(path+".max_concurrency", int64(m.MaxConcurrency))
	v.nonNegative(path+".queue", int64(m.Queue))
	if m.Queue > 0 && m.MaxConcurrency == 0 {
		v.add(path+".queue", "a queue needs max_concurrency: requests wait only while every slot is busy")
	}
	switch m.OverCapacityStatus {
	case 0, 429, 503:
	default:
		v.add(path+".over_capacity_status", "must be 429 or 503, got %d", m.OverCapacityStatus)
	}
	v.nonNegative(path+".rpm", int64(m.RPM))
	v.nonNegative(path+".tpm", int64(m.TPM))
	v.nonNegative(path+".context_window", int64(m.ContextWindow))
	v.nonNegative(path+".dimensions", int64(m.Dimensions))
	v.nonNegative(path+".kv_cache_tokens", int64(m.KVCacheTokens))
	if m.Dimensions != 0 && m.Kind != SimKindEmbedding {
		v.add(path+".dimensions", "dimensions is only for an embedding model (kind: embedding)")
	}
	v.faults(path+".faults", m.Faults)
}

func (v *validator) latency(path string, l Latency) {
	v.duration(path+".p50", l.P50)
	v.duration(path+".p99", l.P99)
	if l.P99 != 0 && l.P99 < l.P50 {
		v.add(path+".p99", "p99 %s is below p50 %s", l.P99, l.P50)
	}
}

// faultFields are the Fault fields of Faults with their YAML names, in
// order, so that a fault added to the schema is checked too.
var faultFields = func() (out []struct {
	name  string
	index int
}) {
	t := reflect.TypeFor[Faults]()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == reflect.TypeFor[Fault]() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			out = append(out, struct {
				name  string
				index int
			}{name, i})
		}
	}
	return out
}()

func (v *validator) faults(path string, f Faults) {
	ep := path + ".error_rates"
	statuses := make([]int, 0, len(f.ErrorRates))
	for s := range f.ErrorRates {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	sum, ratesOK := 0.0, true
	for _, s := range statuses {
		sp := childKey(ep, strconv.Itoa(s))
		if s < 400 || s > 599 {
			v.add(sp, "%d is not an HTTP error status (400 to 599)", s)
		}
		ratesOK = v.rate(sp, f.ErrorRates[s]) && ratesOK
		sum += f.ErrorRates[s]
	}
	if ratesOK && sum > 1+1e-9 {
		v.add(ep, "the error rates add up to %.6g; they must add up to at most 1", sum)
	}
	v.duration(path+".retry_after", f.RetryAfter)
	fv := reflect.ValueOf(f)
	for _, ff := range faultFields {
		fault := fv.Field(ff.index).Interface().(Fault)
		fp := path + "." + ff.name
		v.rate(fp+".rate", fault.Rate)
		v.nonNegative(fp+".after_tokens", int64(fault.AfterTokens))
		v.duration(fp+".delay", fault.Delay)
	}
}

func (v *validator) rate(path string, r float64) bool {
	if !(r >= 0 && r <= 1) { // NaN too
		v.add(path, "a rate is a probability from 0 to 1, got %g", r)
		return false
	}
	return true
}

func (v *validator) models(c *Config) {
	first := map[string]int{}
	aliases := make([]string, 0, len(c.Models))
	for i, m := range c.Models {
		if _, dup := first[m.Name]; !dup && m.Name != "" {
			first[m.Name] = i
			aliases = append(aliases, m.Name)
		}
	}
	providers := make([]string, 0, len(c.Providers))
	for name := range c.Providers {
		providers = append(providers, name)
	}
	sort.Strings(providers)

	for i, m := range c.Models {
		path := childIndex("models", i)
		switch j := first[m.Name]; {
		case m.Name == "":
			v.add(path+".name", "name is required: the model clients send")
		case !modelName.MatchString(m.Name):
			v.add(path+".name", "model name %q must be letters, digits and . _ - : / @ +, starting with a letter or digit (at most 128)", m.Name)
		case j != i:
			v.add(path+".name", "duplicate model name %q (first at models[%d])", m.Name, j)
		}
		if len(m.Targets) == 0 {
			v.add(path+".targets", "at least one target is required")
		}
		for k, t := range m.Targets {
			v.target(childIndex(path+".targets", k), t, c.Providers, providers)
		}
		seen := map[string]bool{}
		for k, fb := range m.Fallbacks {
			fp := childIndex(path+".fallbacks", k)
			switch _, ok := first[fb]; {
			case fb == "":
				v.add(fp, "a fallback names a model alias; this one is empty")
			case fb == m.Name:
				v.add(fp, "%q cannot fall back to itself", fb)
			case !ok:
				others := slices.DeleteFunc(slices.Clone(aliases), func(a string) bool { return a == m.Name })
				v.add(fp, "unknown model %q%s", fb, didYouMean(fb, others))
			case seen[fb]:
				v.add(fp, "%q is listed twice", fb)
			}
			seen[fb] = true
		}
		v.nonNegative(path+".context_window", int64(m.ContextWindow))
		v.modelTenants(path+".tenants", m.Tenants)
		v.modelLimits(path+".limits", m.Limits)
		v.resilience(path, m, first, aliases)
		v.streamRecovery(path+".stream_recovery", m.StreamRecovery)
	}
	v.fallbackCycles(c, first)
}

func (v *validator) modelLimits(path string, l ModelLimits) {
	v.nonNegative(path+".requests_per_minute", int64(l.RequestsPerMinute))
	v.nonNegative(path+".tokens_per_minute", int64(l.TokensPerMinute))
	v.nonNegative(path+".concurrent", int64(l.Concurrent))
}

// targetClasses are the classes a target may be reserved for.
var targetClasses = []string{"critical", "interactive", "batch"}

func (v *validator) target(path string, t Target, all map[string]Provider, names []string) {
	seen := map[string]bool{}
	for k, c := range t.Classes {
		cp := childIndex(path+".classes", k)
		switch {
		case !slices.Contains(targetClasses, c):
			v.add(cp, "%q is not a class: critical, interactive or batch%s", c, didYouMean(c, targetClasses))
		case seen[c]:
			v.add(cp, "%q is listed twice", c)
		}
		seen[c] = true
	}
	p, ok := all[t.Provider]
	switch {
	case t.Provider == "":
		v.add(path+".provider", "provider is required")
	case !ok:
		v.add(path+".provider", "unknown provider %q%s", t.Provider, didYouMean(t.Provider, names))
	}
	mp := path + ".model"
	switch {
	case t.Model == "":
		v.add(mp, "model is required: the provider's name for the model")
	case strings.ContainsFunc(t.Model, func(r rune) bool { return isControl(r) || r == ' ' }) || len(t.Model) > 256:
		v.add(mp, "model %q must have no spaces or control characters (at most 256 bytes)", t.Model)
	case !ok:
	case p.Type == ProviderSim:
		if _, served := p.SimModels[t.Model]; !served {
			models := make([]string, 0, len(p.SimModels))
			for m := range p.SimModels {
				models = append(models, m)
			}
			sort.Strings(models)
			v.add(mp, "sim provider %q has no model %q%s", t.Provider, t.Model, didYouMean(t.Model, models))
		}
	case strings.Contains(p.BaseURL, "{model}") && !deploymentName.MatchString(t.Model):
		v.add(mp, "model %q replaces {model} in provider %q's base_url, so it must be letters, digits, . _ and -", t.Model, t.Provider)
	}
	v.nonNegative(path+".weight", int64(t.Weight))
}

// fallbackCycles reports each cycle of fallbacks once, where it closes.
func (v *validator) fallbackCycles(c *Config, index map[string]int) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(c.Models))
	var stack []string
	var visit func(i int)
	visit = func(i int) {
		state[i] = visiting
		stack = append(stack, c.Models[i].Name)
		for k, fb := range c.Models[i].Fallbacks {
			j, ok := index[fb]
			if !ok || j == i {
				continue // reported already
			}
			switch state[j] {
			case unvisited:
				visit(j)
			case visiting:
				start := slices.Index(stack, fb)
				cycle := append(slices.Clone(stack[start:]), fb)
				v.add(childIndex(childIndex("models", i)+".fallbacks", k), "fallback cycle: %s", strings.Join(cycle, " → "))
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i, m := range c.Models {
		if j, ok := index[m.Name]; ok && j == i && state[i] == unvisited {
			visit(i)
		}
	}
}
