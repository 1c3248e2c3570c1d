package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/shed"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/webhook"
)

// asyncRetention is how long an async chat completion's result is kept
// when async.retention does not say.
const asyncRetention = 24 * time.Hour

// webhookRetention is how long delivered and dead webhook deliveries
// are kept when async.webhook_retention does not say.
const webhookRetention = 7 * 24 * time.Hour

// asyncPurge is how often expired jobs and old webhook deliveries are
// purged.
const asyncPurge = time.Hour

// asyncWork is the asynchronous requests (background responses, async
// chat completions) and the webhooks that tell of their end and of
// batches'. Built with the handler; Start and Close run it.
type asyncWork struct {
	jobs  *job.Service        // nil when the store holds no jobs
	hooks *webhook.Dispatcher // nil when the store holds no webhooks
	purge *background
}

// asyncRoutes builds the job runner and the webhook dispatcher over the
// store, turns on background responses (a.responses), wraps the chat
// completions route for X-Bulwark-Async and adds the async and admin
// routes. The jobs run through the API's own handlers, as the key that
// sent them, at async.priority.
func (a *App) asyncRoutes(cfg *config.Config, routes, admRoutes map[string]api.AuthedHandler) {
	w := &asyncWork{}
	if store, ok := a.db.(webhook.Store); ok {
		d, err := webhook.New(store, webhook.Options{Endpoints: webhookEndpoints(cfg), Log: a.log})
		if err != nil {
			// config.Validate checked the secrets; this is a bug.
			a.log.Error("webhooks off", "error", err.Error())
		} else {
			w.hooks = d
			for p, h := range admin.NewWebhooks(store, d.Poke).Routes() {
				admRoutes[p] = h
			}
		}
	}
	store, ok := a.db.(job.Store)
	chat, hasChat := routes[http.MethodPost+" /v1/chat/completions"]
	if !ok || !hasChat {
		a.async = w
		return
	}
	rs := a.responses
	exec := &jobExecutor{keys: a.keys, priority: cmpOr(cfg.Async.Priority, "batch"), chat: chat, responses: a.responses}
	o := job.Options{Workers: cfg.Async.Workers, Log: a.log, Events: jobEvent,
		Outcome: func(j job.Job, r job.Result) job.Status {
			if j.Kind == job.Response {
				return openai.ResponseOutcome(j, r)
			}
			if r.StatusCode >= 200 && r.StatusCode < 300 {
				return job.Completed
			}
			return job.Failed
		}}
	if w.hooks != nil {
		o.Ended = w.hooks.Poke
	}
	if rs != nil {
		// A background response cancelled or deleted while it ran keeps
		// no stored copy.
		o.Dropped = func(ctx context.Context, j job.Job) {
			if j.Kind != job.Response {
				return
			}
			if err := rs.DropStored(ctx, j.TenantID, j.ID); err != nil {
				a.log.Warn("removing a dropped background response failed", "response_id", j.ID, "error", err.Error())
			}
		}
	}
	if _, shared := a.db.(*postgres.DB); !shared {
		// One process has the data directory: a restart takes over the
		// leases of the run before it at once.
		o.Owner = "local"
	}
	w.jobs = job.New(store, exec, o)
	if a.responses != nil {
		a.responses.SetJobs(w.jobs)
	}
	ac := openai.NewAsyncChat(w.jobs, cmpOr(cfg.Async.Retention.D(), asyncRetention))
	routes[http.MethodPost+" /v1/chat/completions"] = ac.Wrap(chat)
	for p, h := range ac.Routes() {
		routes[p] = h
	}
	a.async = w
}

// webhookEndpoints are the endpoints cfg names.
func webhookEndpoints(cfg *config.Config) []webhook.Endpoint {
	var eps []webhook.Endpoint
	for _, h := range cfg.Webhooks {
		eps = append(eps, webhook.Endpoint{URL: h.URL, Secret: h.Secret, Events: h.Events})
	}
	return eps
}

// reloadWebhooks gives the webhook dispatcher the endpoints cfg names;
// on error the endpoints in force stay.
func (a *App) reloadWebhooks(cfg *config.Config) error {
	if a.async == nil || a.async.hooks == nil {
		return nil
	}
	return a.async.hooks.SetEndpoints(webhookEndpoints(cfg))
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// jobEvent names the webhook event of a job's end.
func jobEvent(k job.Kind, s job.Status) string {
	switch k {
	case job.Response:
		return "response." + string(s)
	case job.Chat:
		return "chat.completion." + string(s)
	}
	return ""
}

// startAsync starts the job runner, the webhook dispatcher and their
// purge.
func (a *App) startAsync(ctx context.Context) error {
	w := a.async
	if w == nil {
		return nil
	}
	if w.jobs != nil {
		if err := w.jobs.Start(ctx); err != nil {
			return err
		}
	}
	if w.hooks != nil {
		w.hooks.Start(ctx)
	}
	if w.jobs != nil || w.hooks != nil {
		pctx, cancel := context.WithCancel(context.Background())
		w.purge = &background{cancel: cancel}
		w.purge.wg.Go(func() {
			t := time.NewTicker(asyncPurge)
			defer t.Stop()
			for {
				a.purgeAsync(pctx, time.Now())
				select {
				case <-pctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	return nil
}

// purgeAsync deletes the jobs expired at now and the webhook deliveries
// delivered or dead longer than async.webhook_retention before it.
func (a *App) purgeAsync(ctx context.Context, now time.Time) {
	w := a.async
	if w.jobs != nil {
		if n, err := w.jobs.Purge(ctx, now); err != nil && ctx.Err() == nil {
			a.log.Warn("purging expired jobs failed", "err", err.Error())
		} else if n > 0 {
			a.log.Info("purged expired jobs", "count", n)
		}
	}
	if w.hooks != nil {
		retention := cmpOr(a.Config().Async.WebhookRetention.D(), webhookRetention)
		if n, err := w.hooks.Purge(ctx, now.Add(-retention)); err != nil && ctx.Err() == nil {
			a.log.Warn("purging old webhook deliveries failed", "err", err.Error())
		} else if n > 0 {
			a.log.Info("purged old webhook deliveries", "count", n)
		}
	}
}

// stopAsync stops what startAsync started.
func (a *App) stopAsync() {
	w := a.async
	if w == nil {
		return
	}
	if w.purge != nil {
		w.purge.stop()
	}
	if w.jobs != nil {
		w.jobs.Close() // its requests use the gateway and the store
	}
	if w.hooks != nil {
		w.hooks.Close()
	}
}

// jobExecutor runs a job's request as the key that sent it, at the
// configured priority, through the API's own handler, so that the
// gateway's limits, budgets, fallbacks and usage apply as to the same
// request sent to the API. At batch priority the request runs on spare
// capacity only (shed.SpareOnly), as a batch line does.
type jobExecutor struct {
	keys      *tenant.Keyring
	priority  string
	chat      api.AuthedHandler
	responses *openai.Responses
}

func (e *jobExecutor) Execute(ctx context.Context, j job.Job) job.Result {
	p, err := e.keys.Principal(j.KeyID)
	if err == nil && p.TenantID != j.TenantID {
		err = tenant.ErrUnknownKey
	}
	if err != nil {
		body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": fmt.Sprintf("the key that sent the request cannot make requests: %v", err),
			"type": api.TypeInvalidRequest, "code": "invalid_api_key", "param": nil}})
		return job.Result{StatusCode: http.StatusUnauthorized, Body: body}
	}
	p.Priority = e.priority
	if e.priority == "batch" {
		// As a batch line (batches.go): at batch priority a job takes
		// only a target's spare capacity, and never waits in a target's
		// queue in front of live requests (shed/spare.go).
		ctx = shed.SpareOnly(ctx)
	}
	url := "/v1/chat/completions"
	if j.Kind == job.Response {
		url = "/v1/responses"
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(j.Body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.HeaderRequestID, newBatchRequestID())
	rec := httptest.NewRecorder()
	switch j.Kind {
	case job.Response:
		if e.responses == nil {
			return job.Result{StatusCode: http.StatusInternalServerError, Body: []byte(`{"error":{"message":"the Responses API is off","type":"server_error","code":null}}`)}
		}
		e.responses.RunBackground(rec, req, p, j.ID)
	default:
		e.chat(rec, req, p)
	}
	res := job.Result{StatusCode: rec.Code, Body: rec.Body.Bytes()}
	res.RetryAfter, res.Busy = refusal(rec) // as a batch line (batches.go)
	return res
}
