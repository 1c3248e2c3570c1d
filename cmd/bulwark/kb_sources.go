package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Timing of ingestion; tests shorten them.
var (
	// kbBackoff is the first wait before a retry; each retry doubles it.
	kbBackoff = 500 * time.Millisecond
	// kbMaxBackoff bounds a wait between retries, Retry-After included.
	kbMaxBackoff = 2 * time.Minute
	// kbPoll is how often ingestion's progress is polled.
	kbPoll = time.Second
	// kbFetchTimeout bounds fetching one URL.
	kbFetchTimeout = 60 * time.Second
)

// kbMaxSource bounds a source's size (the server's default upload limit).
const kbMaxSource = 64 << 20

// kbExtensions are the files a directory is searched for.
var kbExtensions = map[string]bool{
	".pdf": true, ".html": true, ".htm": true, ".md": true, ".markdown": true,
	".txt": true, ".docx": true, ".csv": true, ".json": true,
}

// kbSource is one document to ingest: a file or a URL.
type kbSource struct {
	// name is the path (absolute) or URL: the file's attributes.source.
	name  string
	isURL bool
	// content and filename are set once read.
	content  []byte
	filename string
	// err is why the source could not be found or read.
	err error
}

// read reads the source's content unless it was read already, retrying
// a URL up to retries times.
func (s *kbSource) read(ctx context.Context, hc *http.Client, retries int) error {
	if s.content != nil || s.err != nil {
		return s.err
	}
	if !s.isURL {
		b, err := os.ReadFile(s.name)
		if err != nil {
			return err
		}
		s.content, s.filename = b, filepath.Base(s.name)
		return nil
	}
	b, ct, err := fetch(ctx, hc, s.name, retries)
	if err != nil {
		return err
	}
	s.content, s.filename = b, urlFilename(s.name, ct)
	return nil
}

// expand turns the command line's arguments into the sources they name:
// files, the documents of directories, URLs and the pages of sitemaps. An
// argument that cannot be expanded is one source with its error. URLs are
// fetched parallel at a time; each source appears once.
func expand(ctx context.Context, hc *http.Client, args []string, parallel, retries int) []*kbSource {
	groups := make([][]*kbSource, len(args))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, arg := range args {
		if !isURL(arg) {
			groups[i] = expandPath(arg)
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			groups[i] = expandURL(ctx, hc, arg, retries)
		})
	}
	wg.Wait()
	var out []*kbSource
	seen := map[string]bool{}
	for _, g := range groups {
		for _, s := range g {
			if !seen[s.name] {
				seen[s.name] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// expandPath is a file, or a directory's documents walked recursively
// with dotfiles and dot directories skipped.
func expandPath(arg string) []*kbSource {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return []*kbSource{{name: arg, err: err}}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return []*kbSource{{name: abs, err: err}}
	}
	if !fi.IsDir() {
		return []*kbSource{{name: abs}}
	}
	var out []*kbSource
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, &kbSource{name: p, err: err})
			return nil
		}
		if p != abs && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && kbExtensions[strings.ToLower(filepath.Ext(p))] {
			out = append(out, &kbSource{name: p})
		}
		return nil
	})
	if err != nil {
		out = append(out, &kbSource{name: abs, err: err})
	}
	if len(out) == 0 {
		out = append(out, &kbSource{name: abs, err: errors.New("the directory holds no documents (.pdf .html .htm .md .markdown .txt .docx .csv .json)")})
	}
	return out
}

// expandURL fetches a URL: a sitemap becomes the pages it lists (a
// sitemap index, the pages of its sitemaps), anything else is one source
// whose content is read.
func expandURL(ctx context.Context, hc *http.Client, u string, retries int) []*kbSource {
	b, ct, err := fetch(ctx, hc, u, retries)
	if err != nil {
		return []*kbSource{{name: u, isURL: true, err: err}}
	}
	kind, sm := parseSitemap(b)
	if kind == "" {
		if strings.HasSuffix(strings.ToLower(mustPath(u)), "sitemap.xml") {
			return []*kbSource{{name: u, isURL: true, err: errors.New("not a sitemap: no <urlset> or <sitemapindex>")}}
		}
		return []*kbSource{{name: u, isURL: true, content: b, filename: urlFilename(u, ct)}}
	}
	if kind == "urlset" {
		return sitemapPages(u, sm, nil)
	}
	// A sitemap index: its sitemaps are read, one level deep.
	var out []*kbSource
	for _, loc := range sm.locs(u) {
		if loc.err != nil {
			out = append(out, loc)
			continue
		}
		cb, _, err := fetch(ctx, hc, loc.name, retries)
		if err != nil {
			out = append(out, &kbSource{name: loc.name, isURL: true, err: fmt.Errorf("sitemap: %w", err)})
			continue
		}
		if k, child := parseSitemap(cb); k == "urlset" {
			out = sitemapPages(loc.name, child, out)
		} else {
			out = append(out, &kbSource{name: loc.name, isURL: true, err: errors.New("not a sitemap of pages (<urlset>); sitemap indexes are read one level deep")})
		}
	}
	if len(out) == 0 {
		return []*kbSource{{name: u, isURL: true, err: errors.New("the sitemap index lists no sitemaps")}}
	}
	return out
}

// sitemapPages appends the pages a <urlset> lists to out.
func sitemapPages(u string, sm sitemap, out []*kbSource) []*kbSource {
	locs := sm.locs(u)
	if len(locs) == 0 {
		return append(out, &kbSource{name: u, isURL: true, err: errors.New("the sitemap lists no pages")})
	}
	return append(out, locs...)
}

func mustPath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Path
}

// sitemap is a <urlset> or a <sitemapindex>.
type sitemap struct {
	URLs     []sitemapLoc `xml:"url"`
	Sitemaps []sitemapLoc `xml:"sitemap"`
}

type sitemapLoc struct {
	Loc string `xml:"loc"`
}

// locs are the URLs the sitemap lists, resolved against its own URL; one
// that is not http(s) is a source with its error.
func (sm sitemap) locs(base string) []*kbSource {
	b, _ := url.Parse(base)
	var out []*kbSource
	for _, l := range append(sm.URLs, sm.Sitemaps...) {
		loc := strings.TrimSpace(l.Loc)
		if loc == "" {
			continue
		}
		u, err := url.Parse(loc)
		if err == nil && b != nil {
			u = b.ResolveReference(u)
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			out = append(out, &kbSource{name: loc, isURL: true, err: errors.New("a sitemap entry that is not an http(s) URL")})
			continue
		}
		out = append(out, &kbSource{name: u.String(), isURL: true})
	}
	return out
}

// parseSitemap reads b as a sitemap: kind is "urlset" or "sitemapindex",
// or "" when b is not one.
func parseSitemap(b []byte) (kind string, sm sitemap) {
	t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	if !bytes.HasPrefix(t, []byte("<")) {
		return "", sm
	}
	d := xml.NewDecoder(bytes.NewReader(t))
	d.Strict = false
	for {
		tok, err := d.Token()
		if err != nil {
			return "", sm
		}
		if se, ok := tok.(xml.StartElement); ok {
			kind = se.Name.Local
			if kind != "urlset" && kind != "sitemapindex" {
				return "", sm
			}
			if d.DecodeElement(&sm, &se) != nil {
				return "", sitemap{}
			}
			return kind, sm
		}
	}
}

// fetch GETs u, retrying network errors, 429s and 5xx up to retries
// times, and returns the body and its Content-Type.
func fetch(ctx context.Context, hc *http.Client, u string, retries int) (body []byte, contentType string, err error) {
	err = retry(ctx, retries, func() error {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, kbMaxSource+1))
		if err != nil {
			return &url.Error{Op: "read", URL: u, Err: err}
		}
		if resp.StatusCode/100 != 2 {
			return newStatusError(resp, "GET", u, nil)
		}
		if len(b) > kbMaxSource {
			return fmt.Errorf("GET %s: larger than %d MiB", u, kbMaxSource>>20)
		}
		body, contentType = b, resp.Header.Get("Content-Type")
		return nil
	})
	return body, contentType, err
}

// retry calls fn until it succeeds, fails in a way not worth retrying, or
// has been retried retries times. Between attempts it waits what a
// Retry-After asked for, else kbBackoff doubled per attempt with jitter
// (half fixed, half random), either at most kbMaxBackoff.
func retry(ctx context.Context, retries int, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= retries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := kbBackoff << min(attempt, 20)
		wait = wait/2 + rand.N(wait/2+1)
		if se := (*statusError)(nil); errors.As(err, &se) && se.HasRetryAfter {
			wait = se.RetryAfter
		}
		t := time.NewTimer(min(wait, kbMaxBackoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryable says whether err is a network error, a 429 or a 5xx.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.Status == http.StatusTooManyRequests || se.Status >= 500
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// urlFilename names the file of a fetched URL: the last segment of its
// path, with an extension from its Content-Type when it has none.
func urlFilename(u, contentType string) string {
	name := "index"
	if p, err := url.Parse(u); err == nil {
		if b := path.Base(p.Path); b != "/" && b != "." && b != "" {
			name = b
		} else if p.Host != "" {
			name = p.Host
		}
	}
	if kbExtensions[strings.ToLower(path.Ext(name))] {
		return name
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "text/html", "application/xhtml+xml":
		return name + ".html"
	case "text/markdown", "text/x-markdown":
		return name + ".md"
	case "application/pdf":
		return name + ".pdf"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return name + ".docx"
	case "text/csv":
		return name + ".csv"
	case "application/json":
		return name + ".json"
	}
	return name + ".txt"
}
