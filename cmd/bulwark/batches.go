package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"
)

const batchesUsage = `usage:
  bulwark batches submit [flags] FILE.jsonl [--wait] [--out FILE] [--poll 2s]
  bulwark batches list [flags] [--quiet]
  bulwark batches get [flags] BATCH_ID
  bulwark batches cancel [flags] BATCH_ID
  bulwark batches results [flags] BATCH_ID [--errors] [--out FILE]
`

// batchObject is a batch as the API answers it.
type batchObject struct {
	ID            string `json:"id"`
	Endpoint      string `json:"endpoint"`
	Status        string `json:"status"`
	OutputFileID  string `json:"output_file_id"`
	ErrorFileID   string `json:"error_file_id"`
	CreatedAt     int64  `json:"created_at"`
	RequestCounts struct {
		Total     int `json:"total"`
		Completed int `json:"completed"`
		Failed    int `json:"failed"`
	} `json:"request_counts"`
	Errors *struct {
		Data []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Line    *int   `json:"line"`
		} `json:"data"`
	} `json:"errors"`
}

// done reports whether the batch has ended.
func (b batchObject) done() bool {
	switch b.Status {
	case "completed", "failed", "expired", "cancelled":
		return true
	}
	return false
}

// batchesCmd is "bulwark batches": the Batch API of a running Bulwark.
func batchesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, batchesUsage)
		return errUsage
	}
	fs := newFlagSet("bulwark batches "+args[0], batchesUsage, stderr)
	client := adminFlags(fs)
	var run func(c kbClient, pos []string) error
	var nargs int
	switch args[0] {
	case "submit":
		wait := fs.Bool("wait", false, "wait for the batch to end, showing its progress")
		out := fs.String("out", "", "with --wait, write the output file's lines here")
		poll := fs.Duration("poll", 2*time.Second, "how often --wait asks for the batch's progress")
		nargs = 1
		run = func(c kbClient, pos []string) error {
			return batchSubmit(ctx, c, pos[0], *wait, *out, *poll, stdout, stderr)
		}
	case "list":
		quiet := fs.Bool("quiet", false, "print only the batches' ids, newest first, one a line (for scripts)")
		run = func(c kbClient, _ []string) error { return batchList(ctx, c, *quiet, stdout) }
	case "get":
		nargs = 1
		run = func(c kbClient, pos []string) error {
			return batchShow(ctx, c, "GET", "/v1/batches/"+url.PathEscape(pos[0]), stdout)
		}
	case "cancel":
		nargs = 1
		run = func(c kbClient, pos []string) error {
			return batchShow(ctx, c, "POST", "/v1/batches/"+url.PathEscape(pos[0])+"/cancel", stdout)
		}
	case "results":
		errs := fs.Bool("errors", false, "the error file instead of the output file")
		out := fs.String("out", "", "write the lines here instead of standard output")
		nargs = 1
		run = func(c kbClient, pos []string) error { return batchResults(ctx, c, pos[0], *errs, *out, stdout) }
	default:
		fmt.Fprint(stderr, batchesUsage)
		return errUsage
	}
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != nargs {
		fmt.Fprint(stderr, batchesUsage)
		return errUsage
	}
	ac, err := client()
	if err != nil {
		return err
	}
	return run(kbClient{ac}, pos)
}

// batchSubmit uploads a JSONL file of requests and creates its batch,
// for the endpoint its first line names.
func batchSubmit(ctx context.Context, c kbClient, path string, wait bool, out string, poll time.Duration, stdout, stderr io.Writer) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var first struct {
		URL string `json:"url"`
	}
	line, _, _ := bytes.Cut(bytes.TrimSpace(content), []byte("\n"))
	if err := json.Unmarshal(line, &first); err != nil || first.URL == "" {
		return fmt.Errorf("%s: the first line is not a request with a url (a Batch API input line: custom_id, method, url, body)", path)
	}
	id, err := c.uploadAs(ctx, filepath.Base(path), "batch", content)
	if err != nil {
		return err
	}
	var b batchObject
	if err := c.json(ctx, "POST", "/v1/batches", map[string]any{"input_file_id": id, "endpoint": first.URL, "completion_window": "24h"}, &b); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", b.ID, b.Status)
	if !wait {
		return nil
	}
	last := ""
	for !b.done() {
		if p := fmt.Sprintf("%s %d/%d done, %d failed", b.Status, b.RequestCounts.Completed+b.RequestCounts.Failed, b.RequestCounts.Total, b.RequestCounts.Failed); p != last {
			fmt.Fprintf(stderr, "\r%s", p)
			last = p
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr)
			return ctx.Err()
		case <-time.After(poll):
		}
		if err := c.json(ctx, "GET", "/v1/batches/"+url.PathEscape(b.ID), nil, &b); err != nil {
			return err
		}
	}
	if last != "" {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "%s %s: %d completed, %d failed of %d\n", b.ID, b.Status, b.RequestCounts.Completed, b.RequestCounts.Failed, b.RequestCounts.Total)
	if b.Errors != nil {
		for _, e := range b.Errors.Data {
			where := ""
			if e.Line != nil {
				where = fmt.Sprintf("line %d: ", *e.Line)
			}
			fmt.Fprintf(stderr, "%s%s (%s)\n", where, e.Message, e.Code)
		}
	}
	if out != "" && b.OutputFileID != "" {
		if err := batchResults(ctx, c, b.ID, false, out, stdout); err != nil {
			return err
		}
	}
	if b.Status != "completed" {
		return fmt.Errorf("batch %s ended %s", b.ID, b.Status)
	}
	return nil
}

func batchList(ctx context.Context, c kbClient, quiet bool, stdout io.Writer) error {
	var page struct {
		Data []batchObject `json:"data"`
	}
	if err := c.json(ctx, "GET", "/v1/batches?limit=100", nil, &page); err != nil {
		return err
	}
	if quiet {
		for _, b := range page.Data {
			fmt.Fprintln(stdout, b.ID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENDPOINT\tSTATUS\tDONE\tFAILED\tTOTAL\tCREATED")
	for _, b := range page.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", b.ID, b.Endpoint, b.Status, b.RequestCounts.Completed, b.RequestCounts.Failed,
			b.RequestCounts.Total, time.Unix(b.CreatedAt, 0).UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// batchShow prints the batch a call answers, as JSON.
func batchShow(ctx context.Context, c kbClient, method, path string, stdout io.Writer) error {
	b, err := c.send(ctx, method, path, "", nil)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

// batchResults writes a batch's output (or error) file's lines.
func batchResults(ctx context.Context, c kbClient, id string, errs bool, out string, stdout io.Writer) error {
	var b batchObject
	if err := c.json(ctx, "GET", "/v1/batches/"+url.PathEscape(id), nil, &b); err != nil {
		return err
	}
	file := b.OutputFileID
	if errs {
		file = b.ErrorFileID
	}
	if file == "" {
		return errors.New("batch " + id + " has no such file (yet)")
	}
	content, err := c.send(ctx, "GET", "/v1/files/"+url.PathEscape(file)+"/content", "", nil)
	if err != nil {
		return err
	}
	if out == "" {
		_, err := stdout.Write(content)
		return err
	}
	if err := os.WriteFile(out, content, 0o600); err != nil {
		return err
	}
	n := 0
	for sc := bufio.NewScanner(bytes.NewReader(content)); sc.Scan(); {
		n++
	}
	_, err = fmt.Fprintf(stdout, "wrote %d lines to %s\n", n, out)
	return err
}
