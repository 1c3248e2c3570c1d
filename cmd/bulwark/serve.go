package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bulwark-ai/bulwark/app"
	"github.com/bulwark-ai/bulwark/tokens"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "usage: bulwark serve [--config FILE] [--listen ADDR] [--data-dir DIR]\n", stderr)
	o := app.Options{Version: versionString()}
	fs.StringVar(&o.ConfigPath, "config", "", "config file (default: built-in simulated models only)")
	fs.StringVar(&o.Listen, "listen", "", "listen address (default: the config's listen, else 127.0.0.1:8080)")
	fs.StringVar(&o.DataDir, "data-dir", "", "data directory (default: the config's data_dir, else ./bulwark-data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	o.AdminKey = os.Getenv("BULWARK_ADMIN_KEY")
	o.Out, o.LogOutput = stdout, stderr

	// The token vocabularies load while the store opens, so that the
	// first request does not wait for them.
	loaded := make(chan struct{})
	go func() { tokens.Preload(); close(loaded) }()
	a, err := app.New(ctx, o)
	<-loaded
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", a.Config().Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// The reload goroutines end with the server: they are stopped and
	// waited for before the store closes.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWatch()
	wg.Go(func() {
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-hup:
				_ = a.Reload()
			}
		}
	})
	wg.Go(func() { a.Watch(watchCtx, 2*time.Second) })
	return a.Serve(ctx, ln)
}
