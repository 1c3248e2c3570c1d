package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/responses"
)

// responsePurge is how often expired stored responses are purged.
const responsePurge = time.Hour

// responsesRoutes adds the Responses API to routes: served through oai,
// stored in the store, with file_search over the knowledge bases when
// they are on.
func (a *App) responsesRoutes(cfg *config.Config, oai *openai.Handler, routes map[string]api.AuthedHandler) {
	a.responses = openai.NewResponses(oai, a.db, a.kb, cfg.Responses.Retention.D())
	for p, h := range a.responses.Routes() {
		routes[p] = h
	}
}

// startResponsePurge purges the expired stored responses now and every
// responsePurge until stopped.
func startResponsePurge(store responses.Store, log *slog.Logger) *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel}
	b.wg.Go(func() {
		t := time.NewTicker(responsePurge)
		defer t.Stop()
		for {
			purgeResponses(ctx, store, log)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return b
}

func purgeResponses(ctx context.Context, store responses.Store, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := store.PurgeResponses(ctx, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("purging expired responses failed", "err", err.Error())
	case n > 0:
		log.Info("purged expired responses", "count", n)
	}
}
