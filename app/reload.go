package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/bulwark-ai/bulwark/api/admin"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// Reload re-reads the config file and swaps in the world it describes. On
// any error the running world is kept and the error says why. Settings
// that belong to the listening server (listen, data_dir, server.*) and the
// telemetry settings take effect at the next start; a reload that changes
// them says so and keeps the values in force.
func (a *App) Reload() error {
	if a.opts.ConfigPath == "" {
		return nil
	}
	cfg, err := loadConfig(a.opts)
	if err != nil {
		a.log.Error("config reload failed; the previous config stays in force", "error", err.Error())
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	w, err := buildWorld(cfg, a.world, a.log)
	if err != nil {
		a.log.Error("config reload failed; the previous config stays in force", "error", err.Error())
		return fmt.Errorf("build from new config: %w", err)
	}
	if cfg.Listen != a.cfg.Listen || cfg.DataDir != a.cfg.DataDir || cfg.Server != a.cfg.Server {
		a.log.Warn("listen, data_dir and server settings changed; they take effect at the next start")
		cfg.Listen, cfg.DataDir, cfg.Server = a.cfg.Listen, a.cfg.DataDir, a.cfg.Server
	}
	prices, err := newPrices(cfg)
	if err != nil {
		a.log.Error("config reload failed; the previous config stays in force", "error", err.Error())
		return err
	}
	if cfg.Store != a.cfg.Store || cfg.Limits != a.cfg.Limits {
		// The store and the limiter hold connections; they are opened once.
		a.log.Warn("store and limits settings changed; they take effect at the next start")
		cfg.Store, cfg.Limits = a.cfg.Store, a.cfg.Limits
	}
	if !reflect.DeepEqual(cfg.Telemetry, a.cfg.Telemetry) {
		// The metrics registry, the tracer provider and the drift detector
		// are built once, at start (telemetry.go).
		a.log.Warn("telemetry settings changed; they take effect at the next start")
		cfg.Telemetry = a.cfg.Telemetry
	}
	if err := a.reloadWebhooks(cfg); err != nil { // async.go
		a.log.Error("config reload failed; the previous config stays in force", "error", err.Error())
		return err
	}
	setLevel(a.logLevel, cfg.Log.Level)
	a.world, a.cfg = w, cfg
	a.gw.SetRoutes(w.routes)
	a.gw.SetPrices(prices)
	a.log.Info("config reloaded", "models", w.routes.Aliases())
	return nil
}

// Watch reloads the config whenever the file's content changes, checking
// every interval, until ctx ends. Polling the content hash is simple and
// sees every kind of change (editors that replace the file, Kubernetes
// ConfigMap symlink swaps) that inotify-based watching needs care for.
func (a *App) Watch(ctx context.Context, every time.Duration) {
	if a.opts.ConfigPath == "" {
		return
	}
	last := fileHash(a.opts.ConfigPath)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last = a.reloadIfChanged(last)
	}
}

// reloadIfChanged reloads the config if the file's hash differs from last,
// and returns the hash it saw.
func (a *App) reloadIfChanged(last []byte) []byte {
	h := fileHash(a.opts.ConfigPath)
	if h == nil || bytes.Equal(h, last) {
		return last
	}
	a.log.Info("config file changed; reloading", "path", a.opts.ConfigPath)
	_ = a.Reload()
	return h
}

func fileHash(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := sha256.Sum256(b)
	return s[:]
}

// faultInjector returns the simulator behind a provider name, for the
// admin API's runtime fault control.
func (a *App) faultInjector(provider string) (admin.FaultInjector, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.world.providers[provider]
	if !ok {
		return nil, false
	}
	s, ok := p.client.(*sim.Sim)
	return s, ok
}
