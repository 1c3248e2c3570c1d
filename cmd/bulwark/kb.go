package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwark-ai/bulwark/rag/chunk"
)

const kbUsage = `usage:
  bulwark kb ingest [flags] PATH|URL... --store NAME [--chunk-size N [--chunk-overlap N] | --structure]
                    [--attr KEY=VALUE]... [--parallel 4] [--retries 3] [--wait=true]
  bulwark kb search [flags] --store NAME QUERY [-n 10] [--filter JSON] [--json]
  bulwark kb status [flags] [--store NAME]
  bulwark kb export [flags] --store NAME --out FILE
  bulwark kb import [flags] FILE [--name NAME]
`

// kbCmd is "bulwark kb": knowledge bases through a running Bulwark's
// Files and Vector Stores APIs.
func kbCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, kbUsage)
		return errUsage
	}
	fs := newFlagSet("bulwark kb "+args[0], kbUsage, stderr)
	client := adminFlags(fs)
	switch args[0] {
	case "ingest":
		return kbIngestCmd(ctx, fs, client, args[1:], stdout, stderr)
	case "search":
		return kbSearchCmd(ctx, fs, client, args[1:], stdout, stderr)
	case "status":
		return kbStatusCmd(ctx, fs, client, args[1:], stdout, stderr)
	case "export":
		return kbExportCmd(ctx, fs, client, args[1:], stdout, stderr)
	case "import":
		return kbImportCmd(ctx, fs, client, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, kbUsage)
	return errUsage
}

// statusError is an HTTP answer that is not 2xx, from Bulwark or from a
// source being fetched.
type statusError struct {
	Method, URL string
	Status      int
	// RetryAfter is what the answer's Retry-After asked for, when
	// HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// Message is the error message of an API error body.
	Message string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// newStatusError reads an answer that is not 2xx; body is what was read
// of it.
func newStatusError(resp *http.Response, method, u string, body []byte) *statusError {
	e := &statusError{Method: method, URL: u, Status: resp.StatusCode}
	e.RetryAfter, e.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	var api struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &api) == nil {
		e.Message = api.Error.Message
	}
	return e
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// kbClient calls the /v1 Files and Vector Stores APIs with the admin
// client's URL and key. It is safe for concurrent use.
type kbClient struct{ *adminClient }

// send sends one request and returns the body of a 2xx answer; any other
// is a *statusError.
func (c kbClient) send(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, &url.Error{Op: "read", URL: c.url + path, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, newStatusError(resp, method, path, b)
	}
	return b, nil
}

// json sends in as JSON (none when nil) and decodes the answer into out
// (unless nil).
func (c kbClient) json(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
		ct = "application/json"
	}
	b, err := c.send(ctx, method, path, ct, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// upload creates a file for assistants and returns its id.
func (c kbClient) upload(ctx context.Context, filename string, content []byte) (string, error) {
	return c.uploadAs(ctx, filename, "assistants", content)
}

// uploadAs creates a file of the purpose and returns its id.
func (c kbClient) uploadAs(ctx context.Context, filename, purpose string, content []byte) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("purpose", purpose); err != nil {
		return "", err
	}
	w, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(content); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	b, err := c.send(ctx, "POST", "/v1/files", mw.FormDataContentType(), buf.Bytes())
	if err != nil {
		return "", err
	}
	var f struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	return f.ID, nil
}

// kbStore is a vector store as the API answers it.
type kbStore struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	UsageBytes int64  `json:"usage_bytes"`
	Status     string `json:"status"`
	FileCounts struct {
		InProgress int `json:"in_progress"`
		Completed  int `json:"completed"`
		Failed     int `json:"failed"`
		Cancelled  int `json:"cancelled"`
		Total      int `json:"total"`
	} `json:"file_counts"`
	EmbeddingModel string `json:"embedding_model"`
}

// kbStoreFile is a vector store file as the API answers it.
type kbStoreFile struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	LastError *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"last_error"`
	Attributes map[string]any `json:"attributes"`
	UsageBytes int64          `json:"usage_bytes"`
	Chunking   chunk.Strategy `json:"chunking_strategy"`
}

// source is the file's attributes.source, "" when it has none.
func (f kbStoreFile) source() string {
	s, _ := f.Attributes["source"].(string)
	return s
}

// reason is why the file failed, or its status.
func (f kbStoreFile) reason() string {
	if f.LastError != nil {
		return f.LastError.Code + ": " + f.LastError.Message
	}
	return f.Status
}

// pages reads every page of a list from path (which has no query).
func pages[T any](ctx context.Context, c kbClient, path string, id func(T) string) ([]T, error) {
	var all []T
	after := ""
	for {
		p := path + "?limit=100&order=asc"
		if after != "" {
			p += "&after=" + url.QueryEscape(after)
		}
		var page struct {
			Data    []T  `json:"data"`
			HasMore bool `json:"has_more"`
		}
		if err := c.json(ctx, "GET", p, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return all, nil
		}
		after = id(page.Data[len(page.Data)-1])
	}
}

// findStore returns the store named name; found is false when there is
// none.
func (c kbClient) findStore(ctx context.Context, name string) (s kbStore, found bool, err error) {
	stores, err := pages(ctx, c, "/v1/vector_stores", func(s kbStore) string { return s.ID })
	if err != nil {
		return kbStore{}, false, fmt.Errorf("list vector stores: %w", err)
	}
	for _, s := range stores {
		if s.Name == name {
			return s, true, nil
		}
	}
	return kbStore{}, false, nil
}

// storeFiles lists every file of a store.
func (c kbClient) storeFiles(ctx context.Context, storeID string) ([]kbStoreFile, error) {
	files, err := pages(ctx, c, "/v1/vector_stores/"+url.PathEscape(storeID)+"/files", func(f kbStoreFile) string { return f.ID })
	if err != nil {
		return nil, fmt.Errorf("list the store's files: %w", err)
	}
	return files, nil
}

// filename is a file's name, "" when it cannot be read.
func (c kbClient) filename(ctx context.Context, id string) string {
	var f struct {
		Filename string `json:"filename"`
	}
	if c.json(ctx, "GET", "/v1/files/"+url.PathEscape(id), nil, &f) != nil {
		return ""
	}
	return f.Filename
}

// mustStore is the store named name, or an error saying there is none.
func (c kbClient) mustStore(ctx context.Context, name string) (kbStore, error) {
	s, found, err := c.findStore(ctx, name)
	if err == nil && !found {
		err = fmt.Errorf("no vector store named %q", name)
	}
	return s, err
}

func kbSearchCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, stdout, stderr io.Writer) error {
	store := fs.String("store", "", "the vector store's name (required)")
	n := fs.Int("n", 10, "the most results, 1 to 50")
	filter := fs.String("filter", "", `a filter on attributes, as JSON: {"type":"eq","key":"source","value":"…"}`)
	raw := fs.Bool("json", false, "print the API's answer as it came")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *store == "" || len(pos) == 0 {
		fmt.Fprint(stderr, kbUsage)
		return errUsage
	}
	req := map[string]any{"query": strings.Join(pos, " "), "max_num_results": *n}
	if *filter != "" {
		if !json.Valid([]byte(*filter)) {
			return fmt.Errorf("--filter is not JSON: %s", *filter)
		}
		req["filters"] = json.RawMessage(*filter)
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
	body, _ := json.Marshal(req)
	b, err := c.send(ctx, "POST", "/v1/vector_stores/"+url.PathEscape(s.ID)+"/search", "application/json", body)
	if err != nil {
		return err
	}
	if *raw {
		_, err := fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return err
	}
	var page struct {
		Data []struct {
			Filename   string         `json:"filename"`
			Score      float64        `json:"score"`
			Attributes map[string]any `json:"attributes"`
			Content    []struct {
				Text string `json:"text"`
			} `json:"content"`
			Page    int    `json:"page"`
			Section string `json:"section"`
		} `json:"data"`
		Degraded bool   `json:"degraded"`
		Reason   string `json:"degraded_reason"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return fmt.Errorf("read search results: %w", err)
	}
	if page.Degraded {
		fmt.Fprintf(stderr, "degraded: keyword results only (%s)\n", page.Reason)
	}
	if len(page.Data) == 0 {
		fmt.Fprintln(stdout, "no results")
		return nil
	}
	for i, r := range page.Data {
		where := r.Filename
		if r.Page > 0 {
			where += fmt.Sprintf(", page %d", r.Page)
		}
		if r.Section != "" {
			where += ", § " + r.Section
		}
		if src, ok := r.Attributes["source"].(string); ok && src != r.Filename {
			where += " (" + src + ")"
		}
		var text strings.Builder
		for _, c := range r.Content {
			text.WriteString(c.Text + " ")
		}
		fmt.Fprintf(stdout, "%2d. %.3f  %s\n    %s\n", i+1, r.Score, where, excerpt(text.String(), 200))
	}
	return nil
}

// excerpt is the start of s, white space collapsed, at most n runes.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func kbStatusCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, stdout, stderr io.Writer) error {
	store := fs.String("store", "", "show this store's files (default: list the stores)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprint(stderr, kbUsage)
		return errUsage
	}
	ac, err := client()
	if err != nil {
		return err
	}
	c := kbClient{ac}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if *store == "" {
		stores, err := pages(ctx, c, "/v1/vector_stores", func(s kbStore) string { return s.ID })
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "NAME\tID\tSTATUS\tFILES\tCOMPLETED\tIN PROGRESS\tFAILED\tCANCELLED\tSIZE\tEMBEDDING MODEL")
		for _, s := range stores {
			fc := s.FileCounts
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.ID, s.Status, fc.Total, fc.Completed,
				fc.InProgress, fc.Failed, fc.Cancelled, byteSize(s.UsageBytes), s.EmbeddingModel)
		}
		return tw.Flush()
	}
	s, err := c.mustStore(ctx, *store)
	if err != nil {
		return err
	}
	files, err := c.storeFiles(ctx, s.ID)
	if err != nil {
		return err
	}
	slices.SortStableFunc(files, func(a, b kbStoreFile) int { return strings.Compare(a.source(), b.source()) })
	fc := s.FileCounts
	fmt.Fprintf(stdout, "%s (%s): %d files, %d completed, %d in progress, %d failed, %d cancelled, %s\n",
		s.Name, s.ID, fc.Total, fc.Completed, fc.InProgress, fc.Failed, fc.Cancelled, byteSize(s.UsageBytes))
	fmt.Fprintln(tw, "FILE\tFILENAME\tSTATUS\tSIZE\tSOURCE\tLAST ERROR")
	for _, f := range files {
		lastErr := "-"
		if f.LastError != nil {
			lastErr = f.reason()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, c.filename(ctx, f.ID), f.Status, byteSize(f.UsageBytes),
			cmp.Or(f.source(), "-"), lastErr)
	}
	return tw.Flush()
}

// byteSize writes n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// errSourcesFailed is an ingestion in which some sources failed; the
// summary said which and why.
var errSourcesFailed = errors.New("sources failed")
