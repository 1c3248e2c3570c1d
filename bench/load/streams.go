package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// memResult is the serve process's resident memory with n streams open.
type memResult struct {
	want, open  int
	before, rss int64 // bytes: before opening, and the most seen while open
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
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	e.client.CloseIdleConnections()
	return res
}
