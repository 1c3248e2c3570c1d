package app

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/postgres"
	"github.com/bulwark-ai/bulwark/prompt"
)

// promptRefresh is how often every replica reloads its prompts from the
// store: a backstop to the Postgres notifications and to the reload after
// each change made through this replica's admin API.
const promptRefresh = 30 * time.Second

// prompts is the app's prompt registry: the store's prompts, the cache
// the request path resolves from, and the goroutines that keep the cache
// fresh.
type prompts struct {
	store prompt.Store
	cache *prompt.Cache
	bg    *background
}

// startPrompts loads every prompt into the cache and starts refreshing
// it: every promptRefresh and, on Postgres, on every change any replica
// makes. A store that cannot be read now is not fatal: the cache fills
// at the first refresh that reads it, and from then on keeps serving the
// last copy read while the store is down.
func (a *App) startPrompts(ctx context.Context) {
	st, ok := a.db.(prompt.Store)
	if !ok {
		return
	}
	ps := &prompts{store: st, cache: prompt.NewCache(st)}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := ps.cache.Reload(lctx); err != nil {
		a.log.Warn("loading prompts failed; requests that reference a prompt fail until they load", "err", err.Error())
	}
	cancel()
	bgctx, stop := context.WithCancel(context.Background())
	ps.bg = &background{cancel: stop}
	ps.bg.wg.Go(func() { ps.cache.Run(bgctx, promptRefresh) })
	if pg, ok := a.db.(*postgres.DB); ok {
		log := a.log
		ps.bg.wg.Go(func() {
			pg.ListenPrompts(bgctx, func() {
				rctx, cancel := context.WithTimeout(bgctx, 10*time.Second)
				defer cancel()
				if err := ps.cache.Reload(rctx); err != nil && bgctx.Err() == nil {
					log.Warn("reloading prompts after a change failed; the prompts loaded before stay in force", "err", err.Error())
				}
			}, log)
		})
	}
	a.prompts = ps
}

// promptRoutes hands the prompt cache to the OpenAI handler and returns
// the admin API's prompt routes; none when the store holds no prompts.
func (a *App) promptRoutes(oai *openai.Handler, adm *admin.Handler) map[string]admin.HandlerFunc {
	ps := a.prompts
	if ps == nil {
		return nil
	}
	oai.SetPrompts(ps.cache)
	log := a.log
	return admin.NewPrompts(adm, ps.store, func(ctx context.Context) {
		if err := ps.cache.Reload(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("reloading prompts after a change failed; it takes effect at the next refresh", "err", err.Error())
		}
	}).Routes()
}

// stopPrompts stops the cache's refresh.
func (a *App) stopPrompts() {
	if a.prompts != nil {
		a.prompts.bg.stop()
	}
}
