package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/bench/benchproc"
)

// streamsConfig is the config of the serve processes of the memory phase:
// bench/bulwark.yaml's upstream and aliases, with cleartext HTTP/2 served
// next to HTTP/1.1 and admission control off; the %s is the provider's
// h2c setting (HTTP/1.1 or cleartext HTTP/2 to the simulator). The phase measures what an
// open stream costs in memory; with admission control on, the long
// alias's adaptive limit (at most 512 by default) and server.max_inflight
// (4,096) would refuse most of 10,000 streams, as they should.
const streamsConfig = `log: {level: info, format: json}
server:
  shutdown_grace: 2s
  h2c: true
capacity: {disabled: true}
disable_builtin_sim: true
providers:
  upstream:
    type: openai
    base_url: ${BULWARK_BENCH_UPSTREAM}
    h2c: %t
models:
  - name: chat
    targets: [{provider: upstream, model: bench-chat}]
  - name: long
    targets: [{provider: upstream, model: bench-long}]
`

// A protocol the clients of the memory phase speak to Bulwark.
type protocol struct {
	name, slug string
	// fdsPerStream is how many descriptors a stream costs the serve
	// process: its upstream connection unless Bulwark speaks h2c to the
	// upstream, and its client connection unless the clients multiplex
	// streams on few connections.
	fdsPerStream int
	client       func() *http.Client
	// upstreamH2C makes Bulwark speak cleartext HTTP/2 to the simulator
	// (the provider's h2c).
	upstreamH2C bool
}

var protocols = []protocol{
	{name: "HTTP/1.1", slug: "http11", fdsPerStream: 2, client: newClient},
	{name: "h2c", slug: "h2c", fdsPerStream: 1, client: newH2CClient},
	{name: "h2c, and h2c to the upstream", slug: "h2c-h2c", client: newH2CClient, upstreamH2C: true},
}

// newH2CClient speaks cleartext HTTP/2 with prior knowledge, as Envoy or
// an ingress controller does to a backend: streams share connections, up
// to the server's limit of concurrent streams per connection (250).
func newH2CClient() *http.Client {
	tr := &http.Transport{DisableCompression: true, Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// memory measures the resident memory of a serve process with open
// streams, for each protocol in turn, each with a fresh serve process in
// front of the simulator at simURL.
func memory(ctx context.Context, o options, dir, simURL string, limit uint64) {
	fmt.Printf("## Resident memory of the serve process with open streams (opened at %d/s)\n\n", o.ramp)
	fmt.Println("A fresh `bulwark serve` per protocol (server.h2c on, admission control off); the counts run in order in the same process.")
	fmt.Println()
	fmt.Println("| clients speak | streams asked | open | RSS before | RSS while open | per stream | serve fds while open | failures |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|")
	var notes []string
	for _, p := range protocols {
		if ctx.Err() != nil {
			return
		}
		rows, note, err := memoryOf(ctx, o, dir, simURL, limit, p)
		if err != nil {
			fmt.Printf("| %s | – | – | – | – | – | – | %s |\n", p.name, err)
			continue
		}
		for _, r := range rows {
			fmt.Println(r)
		}
		notes = append(notes, note...)
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
	if len(notes) > 0 {
		fmt.Println()
	}
}

// memoryOf runs the memory phase's counts with clients speaking p.
func memoryOf(ctx context.Context, o options, dir, simURL string, limit uint64, p protocol) (rows, notes []string, err error) {
	name := "serve-" + p.slug
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, streamsConfig, p.upstreamH2C), 0o600); err != nil {
		return nil, nil, err
	}
	port, err := benchproc.FreePort()
	if err != nil {
		return nil, nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	srv, err := benchproc.Start("bulwark serve ("+p.name+" streams)", o.bin, filepath.Join(dir, name+".log"),
		[]string{"BULWARK_ADMIN_KEY=" + adminKey, "BULWARK_BENCH_UPSTREAM=" + simURL + "/v1"},
		"serve", "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", filepath.Join(dir, name+"-data"))
	if err != nil {
		return nil, nil, err
	}
	defer srv.Stop(5 * time.Second)
	if err := benchproc.WaitReady(ctx, srv, url+"/healthz"); err != nil {
		return nil, nil, err
	}
	key, err := tenantKey(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	e := &endpoint{name: "bulwark", url: url + "/v1/chat/completions", key: key,
		model: "chat", long: "long", client: p.client(), pid: srv.Pid()}
	for _, n := range o.streams {
		if ctx.Err() != nil {
			break
		}
		// The serve process needs a few hundred descriptors besides
		// the streams'.
		if most := (int(limit) - 300) / max(p.fdsPerStream, 1); p.fdsPerStream > 0 && n > most {
			notes = append(notes, fmt.Sprintf("%s: %d streams capped at %d: the file-descriptor limit is %d and cannot be raised here, and a stream costs Bulwark %d.",
				p.name, n, most, limit, p.fdsPerStream))
			n = most
		}
		m := openStreams(ctx, e, srv.Pid(), n, o.ramp)
		var failed []string
		for k, v := range m.failed {
			failed = append(failed, fmt.Sprintf("%d× %s", v, k))
		}
		slices.Sort(failed)
		per := "–"
		if m.open > 0 {
			per = fmt.Sprintf("%.1f KiB", float64(m.rss-m.before)/1024/float64(m.open))
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %s | %s | %s | %d | %s |", p.name, n, m.open, mib(m.before), mib(m.rss), per, m.fds, orNone(strings.Join(failed, "; "))))
		// Let the server notice the closed streams before the next count.
		time.Sleep(2 * time.Second)
	}
	return rows, notes, nil
}

// memResult is the serve process's resident memory with n streams open.
type memResult struct {
	want, open  int
	before, rss int64 // bytes: before opening, and the most seen while open
	fds         int   // the serve process's open descriptors, most seen while open
	failed      map[string]int
}

// openStreams opens n long streams through e at ramp per second, waits
// until every one has received its first event (or failed), samples the
// resident memory of pid while they are all open, then closes them all.
func openStreams(ctx context.Context, e *endpoint, pid, n, ramp int) memResult {
	res := memResult{want: n, failed: map[string]int{}}
	res.before, _ = rss(pid)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body := e.body(e.long, true)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		opened atomic.Int64
		ended  atomic.Int64
	)
	fail := func(k string) {
		mu.Lock()
		res.failed[k]++
		mu.Unlock()
		ended.Add(1)
	}
	interval := time.Second / time.Duration(ramp)
	start := time.Now()
	for i := range n {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.client.Do(req)
			if err != nil {
				fail(errKind(err))
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail("status " + http.StatusText(resp.StatusCode))
				return
			}
			br := bufio.NewReaderSize(resp.Body, 512)
			if _, err := br.ReadSlice('\n'); err != nil {
				fail(errKind(err))
				return
			}
			opened.Add(1)
			// Keep reading until the test closes the stream.
			_, _ = io.Copy(io.Discard, br)
		}()
	}
	// Wait for every stream to be open or failed.
	deadline := time.Now().Add(60 * time.Second)
	for int(opened.Load()+ended.Load()) < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	res.open = int(opened.Load())
	// Sample for two seconds while they stay open.
	for range 10 {
		if v, err := rss(pid); err == nil && v > res.rss {
			res.rss = v
		}
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			res.fds = max(res.fds, len(fds))
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	e.client.CloseIdleConnections()
	return res
}
