// Command bulwark is the Bulwark gateway: an OpenAI-compatible front for
// models, embedding services and vector stores that keeps applications up
// when those dependencies misbehave.
//
// Usage:
//
//	bulwark serve [--config FILE] [--listen ADDR] [--data-dir DIR]
//	bulwark sim [--config FILE] [--listen ADDR] [--seed N]
//	bulwark config check [--strict] FILE
//	bulwark tenants create|list|update|budget …
//	bulwark keys create|list|update|budget|revoke|rotate …
//	bulwark prompts create|version|list|show|label|rollback …
//	bulwark kb ingest|search|status|export|import …
//	bulwark batches submit|list|get|cancel|results …
//	bulwark cache calibrate --pairs FILE [--model ALIAS] [--precision P]
//	bulwark backup [--data-dir DIR] --out FILE
//	bulwark restore --archive FILE [--data-dir DIR] [--force]
//	bulwark gameday [--url URL] [--key KEY] [--drills a,b] [--thresholds FILE] [--json]
//	bulwark version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Bulwark keeps generative-AI applications up when their models misbehave.

Usage:
  bulwark serve [--config FILE] [--listen ADDR] [--data-dir DIR]
        run the gateway (with no config: the built-in simulated models
        sim-chat and sim-embed and the embedding model local-embed, state
        in ./bulwark-data)
  bulwark sim [--config FILE] [--listen ADDR] [--seed N]
        run the provider simulator as a standalone OpenAI-compatible server
  bulwark config check [--strict] FILE
        validate a config file and print every problem with its line
  bulwark tenants create|list|update|budget [--url URL] [--key KEY] …
  bulwark keys create|list|update|budget|revoke|rotate [--url URL] [--key KEY] …
        manage tenants and keys through a running Bulwark's admin API
        (--key defaults to $BULWARK_ADMIN_KEY, else <data-dir>/admin.key)
  bulwark prompts create|version|list|show|label|rollback [--url URL] [--key KEY] …
        manage the prompt registry: versioned templates, labels, rollback
  bulwark kb ingest PATH|URL... --store NAME [--attr KEY=VALUE]... [--parallel N] [--wait]
  bulwark kb search --store NAME QUERY [-n 10] [--filter JSON] [--json]
  bulwark kb status [--store NAME]
        load files, directories, URLs and sitemaps into a knowledge base,
        search it and show its files, through a running Bulwark
  bulwark batches submit FILE.jsonl [--wait] [--out FILE]
  bulwark batches list|get|cancel|results [BATCH_ID]
        run a file of requests through the Batch API at batch priority
  bulwark cache calibrate --pairs FILE [--model ALIAS] [--precision 0.97] [--url URL]
        calibrate the semantic cache's similarity threshold on labelled
        question pairs and report its precision and hit rate on held-out ones
  bulwark backup [--data-dir DIR] --out FILE
  bulwark backup verify FILE
        write (or check) one consistent, checksummed archive of the data
        directory, while a server on it keeps serving
  bulwark restore --archive FILE [--data-dir DIR] [--force]
        verify an archive and rebuild a data directory from it
  bulwark gameday [--url URL] [--key KEY] [--drills a,b] [--thresholds FILE] [--json]
        run fault drills against a deployment with simulated providers
        and score them (bulwark gameday --help)
  bulwark version
        print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "sim":
		err = simulate(ctx, args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, "usage: bulwark config check [--strict] FILE\n")
			return 2
		}
		return checkConfig(args[2:], stdout, stderr)
	case "tenants":
		err = tenantsCmd(ctx, args[1:], stdout, stderr)
	case "keys":
		err = keysCmd(ctx, args[1:], stdout, stderr)
	case "kb":
		err = kbCmd(ctx, args[1:], stdout, stderr)
	case "prompts":
		err = promptsCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "cache":
		err = cacheCmd(ctx, args[1:], stdout, stderr)
	case "batches":
		err = batchesCmd(ctx, args[1:], stdout, stderr)
	case "backup":
		err = backupCmd(ctx, args[1:], stdout, stderr)
	case "gameday":
		err = gamedayCmd(ctx, args[1:], stdout, stderr)
	case "restore":
		err = restoreCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bulwark: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "bulwark: %v\n", err)
		return 1
	}
	return 0
}
