package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
)

// kbExportCmd is "bulwark kb export --store NAME --out FILE": the store
// with its files, chunks and vectors (GET /v1/vector_stores/{id}/export).
func kbExportCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, stdout, stderr io.Writer) error {
	store := fs.String("store", "", "the vector store's name (required)")
	out := fs.String("out", "", "the file to write (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *store == "" || *out == "" || len(pos) != 0 {
		fmt.Fprint(stderr, kbUsage)
		return errUsage
	}
	ac, err := client()
	if err != nil {
		return err
	}
	c := kbClient{ac}
	s, err := c.mustStore(ctx, *store)
	if err != nil {
		return err
	}
	act := startActivity(stderr, "exporting "+*store)
	b, err := c.send(ctx, "GET", "/v1/vector_stores/"+url.PathEscape(s.ID)+"/export", "", nil)
	act.Done()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "exported %s (%s) to %s, %d bytes\n", *store, s.ID, *out, len(b))
	return err
}

// kbImportCmd is "bulwark kb import FILE [--name NAME]": a new store from
// an export (POST /v1/vector_stores/import), nothing embedded again.
func kbImportCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, stdout, stderr io.Writer) error {
	name := fs.String("name", "", "the new store's name (default: the exported store's)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, kbUsage)
		return errUsage
	}
	body, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	ac, err := client()
	if err != nil {
		return err
	}
	c := kbClient{ac}
	path := "/v1/vector_stores/import"
	if *name != "" {
		path += "?name=" + url.QueryEscape(*name)
	}
	act := startActivity(stderr, fmt.Sprintf("importing %s (%d bytes)", pos[0], len(body)))
	b, err := c.send(ctx, "POST", path, "application/x-ndjson", body)
	act.Done()
	if err != nil {
		return err
	}
	var st struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		FileCounts struct {
			Completed int `json:"completed"`
		} `json:"file_counts"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "imported %s as %s (%s): %d files\n", pos[0], st.Name, st.ID, st.FileCounts.Completed)
	return err
}
