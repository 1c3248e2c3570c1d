package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/bulwark-ai/bulwark/gameday"
)

const gamedayUsage = `usage:
  bulwark gameday [--url URL] [--key KEY] [--drills a,b] [--thresholds FILE]
                  [--duration-scale 1] [--json] [--redis-down CMD --redis-up CMD]
        run drills against a running deployment with simulated providers:
        inject each fault through the admin API, drive traffic at the
        alias, and print a scorecard (requests served, errors by kind, p99,
        sheds by class, time to recover, limit and budget accuracy) with
        pass or fail against the thresholds. Exits 1 when a drill fails.
        Drills: provider-outage, rate-limit-storm, stalled-streams,
        region-lost, redis-lost, traffic-spike, limits.
  bulwark gameday --print-thresholds
        print the built-in thresholds file, to copy and edit
`

func gamedayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gameday", gamedayUsage, stderr)
	client := adminFlags(fs)
	adminKey := fs.String("admin-key", "", "the same as --key")
	drills := fs.String("drills", strings.Join(gameday.DrillNames, ","), "the drills to run, comma-separated")
	thresholds := fs.String("thresholds", "", "thresholds file (default: the built-in one, see --print-thresholds)")
	scale := fs.Float64("duration-scale", 1, "multiply every drill phase's length by this")
	asJSON := fs.Bool("json", false, "print the scorecard as JSON")
	printThresholds := fs.Bool("print-thresholds", false, "print the built-in thresholds file and exit")
	redisDown := fs.String("redis-down", "", "shell command that makes the deployment's Redis unreachable (redis-lost drill)")
	redisUp := fs.String("redis-up", "", "shell command that makes it reachable again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *scale <= 0 || (*redisDown == "") != (*redisUp == "") {
		fs.Usage()
		return errUsage
	}
	if *printThresholds {
		_, err := stdout.Write(gameday.DefaultThresholds)
		return err
	}
	if *adminKey != "" {
		if err := fs.Set("key", *adminKey); err != nil {
			return err
		}
	}
	c, err := client()
	if err != nil {
		return err
	}
	t, err := gameday.LoadThresholds(*thresholds)
	if err != nil {
		return err
	}
	act := startActivity(stderr, "gameday")
	act.Step("preparing the drills against " + c.url)
	o := gameday.Options{
		URL: c.url, AdminKey: c.key, Thresholds: t, DurationScale: *scale,
		Drills: strings.Split(*drills, ","), Progress: stepWriter{act},
	}
	if *redisDown != "" {
		o.Hooks.RedisDown = shellHook(*redisDown, stderr)
		o.Hooks.RedisUp = shellHook(*redisUp, stderr)
	}
	sc, err := gameday.Run(ctx, o)
	act.Done()
	if sc == nil {
		return err
	}
	// An interrupted game day still shows the drills it ran.
	werr := sc.WriteTable
	if *asJSON {
		werr = sc.WriteJSON
	}
	if err := cmp.Or(err, werr(stdout)); err != nil {
		return err
	}
	if !sc.Pass {
		failed := 0
		for _, d := range sc.Drills {
			if d.Outcome == gameday.Failed || d.Outcome == gameday.Errored {
				failed++
			}
		}
		return fmt.Errorf("game day failed: %d of %d drills did not pass", failed, len(sc.Drills))
	}
	return nil
}

// stepWriter shows each line the game day writes as a step of its
// activity.
type stepWriter struct{ a *activity }

func (w stepWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if line = strings.TrimPrefix(line, "gameday: "); line != "" {
			w.a.Step(line)
		}
	}
	return len(p), nil
}

// shellHook runs cmd with sh -c, its output on stderr.
func shellHook(cmd string, stderr io.Writer) func(context.Context) error {
	return func(ctx context.Context) error {
		c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
		c.Stdout, c.Stderr, c.Env = stderr, stderr, os.Environ()
		if err := c.Run(); err != nil {
			return errors.New(cmd + ": " + err.Error())
		}
		return nil
	}
}
