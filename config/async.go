package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Async configures asynchronous requests: background responses
// (background: true on /v1/responses) and async chat completions
// (X-Bulwark-Async: true on /v1/chat/completions).
type Async struct {
	// Workers is how many of them run at once in each process
	// (default 4).
	Workers int `yaml:"workers" json:"workers,omitempty"`
	// Priority is the admission class their requests run at (default
	// batch: they fill the capacity interactive traffic leaves, and wait
	// while it is short); interactive puts them with the API's own.
	Priority string `yaml:"priority" json:"priority,omitempty"`
	// Retention is how long an async chat completion's result can be
	// read (default 24h); background responses are kept as stored
	// responses are (responses.retention).
	Retention Duration `yaml:"retention" json:"retention,omitempty"`
	// WebhookRetention is how long a webhook delivery that was delivered
	// or is dead stays in the delivery log (default 168h); pending ones
	// stay until they end.
	WebhookRetention Duration `yaml:"webhook_retention" json:"webhook_retention,omitempty"`
}

// Webhook is an endpoint told when asynchronous work ends (a batch, a
// background response, an async chat completion), per the Standard
// Webhooks specification.
type Webhook struct {
	// URL receives the events, POSTed as JSON.
	URL string `yaml:"url" json:"url"`
	// Secret signs them: whsec_ followed by base64 (write it as
	// ${VAR} to read it from the environment).
	Secret string `yaml:"secret" json:"secret"`
	// Events are the event types it receives (default: all).
	Events []string `yaml:"events" json:"events,omitempty"`
}

// WebhookEvents are the event types an endpoint may ask for.
var WebhookEvents = []string{"batch.completed", "batch.failed", "batch.cancelled", "batch.expired",
	"response.completed", "response.failed", "response.cancelled", "response.incomplete",
	"chat.completion.completed", "chat.completion.failed", "chat.completion.cancelled"}

// asyncPriorities are the classes async work may run at.
var asyncPriorities = []string{"interactive", "batch"}

func (v *validator) async(c *Config) {
	a := c.Async
	v.nonNegative("async.workers", int64(a.Workers))
	v.oneOf("async.priority", a.Priority, asyncPriorities)
	if r := a.Retention.D(); r != 0 && (r < time.Minute || r > maxRetention) {
		v.add("async.retention", "must be from 1m to 87600h (ten years), got %s", r)
	}
	if r := a.WebhookRetention.D(); r != 0 && (r < time.Minute || r > maxRetention) {
		v.add("async.webhook_retention", "must be from 1m to 87600h (ten years), got %s", r)
	}
	for i, w := range c.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(at+".url", "must be an http or https URL")
		}
		if k, ok := strings.CutPrefix(w.Secret, "whsec_"); !ok {
			v.add(at+".secret", "must be whsec_ followed by base64 (read it from the environment: secret: ${VAR})")
		} else if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) == 0 {
			v.add(at+".secret", "the part after whsec_ must be base64 of at least one byte")
		}
		for j, e := range w.Events {
			if !slices.Contains(WebhookEvents, e) {
				v.add(fmt.Sprintf("%s.events[%d]", at, j), "%q is not one of %s%s", e, strings.Join(WebhookEvents, ", "), didYouMean(e, WebhookEvents))
			}
		}
	}
}
