package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// Outcomes of a source in the summary.
const (
	kbUnchanged  = "unchanged"   // the store holds the same content already
	kbUploaded   = "in_progress" // attached; not waited for
	kbCompleted  = "completed"   // attached and indexed
	kbReplaced   = "replaced"    // a new version indexed, the old one removed
	kbFailedStat = "failed"
)

func kbIngestCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, stdout, stderr io.Writer) error {
	store := fs.String("store", "", "the vector store's name (required; created when absent)")
	size := fs.Int("chunk-size", 0, "chunks of at most N tokens, 100 to 4096 (default: the server's, 800)")
	overlap := fs.Int("chunk-overlap", -1, "tokens a chunk repeats of the one before, at most half of --chunk-size (default: min(400, half))")
	structure := fs.Bool("structure", false, "chunk along the document's structure: headings, pages, tables")
	attrs := pairs{}
	fs.Var(attrs, "attr", "an attribute of every file, as KEY=VALUE (repeatable); source is set to the path or URL")
	parallel := fs.Int("parallel", 4, "sources read and uploaded at once")
	retries := fs.Int("retries", 3, "retries of a source on network errors, 429 and 5xx")
	wait := fs.Bool("wait", true, "wait until the files are indexed (a changed source is always waited for: its old version goes once the new one is indexed)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *store == "" || len(pos) == 0 || *parallel < 1 || *retries < 0 {
		fmt.Fprint(stderr, kbUsage)
		return errUsage
	}
	if _, ok := attrs["source"]; ok {
		fmt.Fprintln(stderr, "--attr source=… is not allowed: source is the file's path or URL")
		return errUsage
	}
	strategy, err := kbStrategy(*size, *overlap, *structure)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	ac, err := client()
	if err != nil {
		return err
	}
	in := &kbIngest{c: kbClient{ac}, hc: &http.Client{Timeout: kbFetchTimeout}, strategy: strategy,
		attrs: attrs, retries: *retries, progress: newKBProgress(stderr)}
	if err := in.openStore(ctx, *store); err != nil {
		return err
	}
	sources := expand(ctx, in.hc, pos, *parallel, *retries)
	results := in.ingest(ctx, sources, *parallel)
	if *wait {
		if err := in.wait(ctx, results); err != nil {
			return err
		}
	}
	failed := printSummary(stdout, results)
	if failed > 0 {
		return fmt.Errorf("%d of %d %w", failed, len(results), errSourcesFailed)
	}
	return nil
}

// kbStrategy is the chunking strategy the flags ask for; nil leaves it to
// the server.
func kbStrategy(size, overlap int, structure bool) (*chunk.Strategy, error) {
	if size == 0 && overlap < 0 && !structure {
		return nil, nil
	}
	if size == 0 {
		size = chunk.DefaultChunkTokens
	}
	if overlap < 0 {
		overlap = min(chunk.DefaultOverlap, size/2)
	}
	sizes := &chunk.Sizes{MaxChunkSizeTokens: size, ChunkOverlapTokens: overlap}
	s := &chunk.Strategy{Type: chunk.Static, Static: sizes}
	if structure {
		s = &chunk.Strategy{Type: chunk.Structure, Structure: sizes}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("chunking: %w", err)
	}
	return s, nil
}

// kbIngest ingests sources into one store. Its fields are set before
// ingest starts and only read after, so it is safe for concurrent use.
type kbIngest struct {
	c        kbClient
	hc       *http.Client // fetches sources; never carries Bulwark's key
	storeID  string
	strategy *chunk.Strategy
	attrs    map[string]string
	retries  int
	progress *kbProgress
	// existing are the store's files by attributes.source.
	existing map[string][]kbStoreFile
}

// kbResult is what became of one source.
type kbResult struct {
	source string
	status string
	fileID string
	// detail is the reason of a failure, else a note.
	detail string
	failed bool
}

// openStore finds the store by name, creating it when absent, and lists
// its files.
func (in *kbIngest) openStore(ctx context.Context, name string) error {
	s, found, err := in.c.findStore(ctx, name)
	if err != nil {
		return err
	}
	if !found {
		if err := in.c.json(ctx, "POST", "/v1/vector_stores", map[string]any{"name": name}, &s); err != nil {
			return fmt.Errorf("create vector store %q: %w", name, err)
		}
		fmt.Fprintf(in.progress.w, "created vector store %s (%s)\n", name, s.ID)
	}
	in.storeID = s.ID
	files, err := in.c.storeFiles(ctx, s.ID)
	if err != nil {
		return err
	}
	in.existing = map[string][]kbStoreFile{}
	for _, f := range files {
		if src := f.source(); src != "" {
			in.existing[src] = append(in.existing[src], f)
		}
	}
	return nil
}

// ingest reads, uploads and attaches the sources, parallel at a time, and
// returns what became of each, in order.
func (in *kbIngest) ingest(ctx context.Context, sources []*kbSource, parallel int) []*kbResult {
	results := make([]*kbResult, len(sources))
	in.progress.phase("uploading", len(sources))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, src := range sources {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := in.one(ctx, src)
			results[i] = r
			in.progress.step(1, fmt.Sprintf("%s: %s %s", r.source, r.status, r.detail))
		})
	}
	wg.Wait()
	in.progress.done()
	return results
}

// one ingests a source: unchanged content is skipped; changed content is
// uploaded, indexed, and then replaces the old file.
func (in *kbIngest) one(ctx context.Context, src *kbSource) *kbResult {
	r := &kbResult{source: src.name}
	fail := func(err error) *kbResult {
		r.status, r.detail, r.failed = kbFailedStat, err.Error(), true
		return r
	}
	if err := src.read(ctx, in.hc, in.retries); err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(src.content)
	olds := in.existing[src.name]
	for _, old := range olds {
		if old.Status != "completed" && old.Status != "in_progress" {
			continue
		}
		if in.strategy != nil && !sameStrategy(*in.strategy, old.Chunking) {
			continue // the same content chunked anew
		}
		b, err := in.c.send(ctx, "GET", "/v1/files/"+url.PathEscape(old.ID)+"/content", "", nil)
		if err == nil && sha256.Sum256(b) == sum {
			r.status, r.fileID, r.detail = kbUnchanged, old.ID, old.ID
			return r
		}
	}
	var id string
	err := retry(ctx, in.retries, func() (err error) {
		id, err = in.c.upload(ctx, src.filename, src.content)
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("upload: %w", err))
	}
	attrs := map[string]any{"source": src.name}
	for k, v := range in.attrs {
		attrs[k] = v
	}
	req := map[string]any{"file_id": id, "attributes": attrs}
	if in.strategy != nil {
		req["chunking_strategy"] = in.strategy
	}
	err = retry(ctx, in.retries, func() error {
		return in.c.json(ctx, "POST", "/v1/vector_stores/"+url.PathEscape(in.storeID)+"/files", req, nil)
	})
	if err != nil {
		in.remove(ctx, id)
		return fail(fmt.Errorf("attach: %w", err))
	}
	r.fileID = id
	if len(olds) == 0 {
		r.status, r.detail = kbUploaded, id
		return r
	}
	// A new version: the old one serves until the new one is indexed.
	f, err := in.waitFile(ctx, id)
	if err != nil {
		return fail(fmt.Errorf("wait for %s: %w", id, err))
	}
	if f.Status != "completed" {
		in.remove(ctx, id)
		return fail(fmt.Errorf("the new version failed (%s); the old one stays", f.reason()))
	}
	var errs []error
	for _, old := range olds {
		errs = append(errs, in.remove(ctx, old.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return fail(fmt.Errorf("indexed as %s but the old version is left: %w", id, err))
	}
	r.status, r.detail = kbReplaced, byteSize(f.UsageBytes)+" indexed"
	return r
}

// sameStrategy says whether two chunking strategies chunk alike.
func sameStrategy(a, b chunk.Strategy) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case chunk.Static:
		return a.Static != nil && b.Static != nil && *a.Static == *b.Static
	case chunk.Structure:
		return a.Structure != nil && b.Structure != nil && *a.Structure == *b.Structure
	}
	return true
}

// remove detaches a file from the store and deletes it.
func (in *kbIngest) remove(ctx context.Context, id string) error {
	p := "/v1/vector_stores/" + url.PathEscape(in.storeID) + "/files/" + url.PathEscape(id)
	err := in.c.json(ctx, "DELETE", p, nil, nil)
	if se := (*statusError)(nil); errors.As(err, &se) && se.Status == http.StatusNotFound {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	if err := in.c.json(ctx, "DELETE", "/v1/files/"+url.PathEscape(id), nil, nil); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// waitFile polls a store file until it is no longer in progress.
func (in *kbIngest) waitFile(ctx context.Context, id string) (kbStoreFile, error) {
	p := "/v1/vector_stores/" + url.PathEscape(in.storeID) + "/files/" + url.PathEscape(id)
	for {
		var f kbStoreFile
		if err := in.c.json(ctx, "GET", p, nil, &f); err != nil && !retryable(err) {
			return f, err
		} else if err == nil && f.Status != "in_progress" {
			return f, nil
		}
		if err := sleep(ctx, kbPoll); err != nil {
			return f, err
		}
	}
}

// wait polls the store's files until none of those uploaded is in
// progress, and records how each ended.
func (in *kbIngest) wait(ctx context.Context, results []*kbResult) error {
	pending := map[string]*kbResult{}
	for _, r := range results {
		if r.status == kbUploaded {
			pending[r.fileID] = r
		}
	}
	if len(pending) == 0 {
		return nil
	}
	in.progress.phase("indexing", len(pending))
	defer in.progress.done()
	for len(pending) > 0 {
		if err := sleep(ctx, kbPoll); err != nil {
			return err
		}
		files, err := in.c.storeFiles(ctx, in.storeID)
		if err != nil {
			if retryable(err) {
				continue
			}
			return err
		}
		seen := map[string]bool{}
		for _, f := range files {
			seen[f.ID] = true
			r, ok := pending[f.ID]
			if !ok || f.Status == "in_progress" {
				continue
			}
			delete(pending, f.ID)
			if f.Status == "completed" {
				r.status, r.detail = kbCompleted, byteSize(f.UsageBytes)+" indexed"
			} else {
				r.status, r.detail, r.failed = kbFailedStat, f.reason(), true
			}
			in.progress.step(1, fmt.Sprintf("%s: %s %s", r.source, r.status, r.detail))
		}
		for id, r := range pending {
			if !seen[id] {
				delete(pending, id)
				r.status, r.detail, r.failed = kbFailedStat, "the file left the store while it was indexed", true
				in.progress.step(1, fmt.Sprintf("%s: %s %s", r.source, r.status, r.detail))
			}
		}
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// printSummary writes a table of the results and returns how many
// failed.
func printSummary(w io.Writer, results []*kbResult) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSTATUS\tFILE / ERROR")
	failed := 0
	counts := map[string]int{}
	for _, r := range results {
		if r.failed {
			failed++
		}
		counts[r.status]++
		detail := r.detail
		if r.fileID != "" && detail != r.fileID {
			detail = r.fileID + ", " + detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.source, r.status, detail)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d sources: %d completed, %d replaced, %d unchanged, %d in progress, %d failed\n", len(results),
		counts[kbCompleted], counts[kbReplaced], counts[kbUnchanged], counts[kbUploaded], failed)
	return failed
}
