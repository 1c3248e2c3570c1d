package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// simulate runs the provider simulator as a standalone OpenAI-compatible
// server, serving the models of every sim provider in the config file (or
// the built-in sim-chat and sim-embed).
func simulate(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("sim", "usage: bulwark sim [--config FILE] [--listen ADDR] [--seed N]\n", stderr)
	path := fs.String("config", "", "config file whose sim providers' models to serve (default: sim-chat and sim-embed)")
	listen := fs.String("listen", "127.0.0.1:9000", "listen address")
	seed := fs.Int64("seed", 1, "random seed; the same seed replays the same latencies, faults and answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	models := config.DefaultSimModels()
	if *path != "" {
		cfg, err := config.Load(*path)
		if err != nil {
			return fmt.Errorf("config %s:\n%w", *path, err)
		}
		for _, p := range cfg.Providers {
			if p.Type == config.ProviderSim {
				maps.Copy(models, p.SimModels)
			}
		}
	}
	s := sim.New("sim", *seed, models)
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	// HTTP/1.1, and cleartext HTTP/2 for clients that speak it with prior
	// knowledge: many streams on one connection.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("simulator serving", "listen", ln.Addr().String(), "models", len(models), "seed", *seed)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	srv.Close()
	return nil
}
