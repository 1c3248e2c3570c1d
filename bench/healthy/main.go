// Command healthy drives running Bulwark replicas to tell whether they
// refuse requests a healthy upstream could serve (BENCHMARKS.md, "healthy
// upstreams, over HTTP"). It starts nothing itself: point it at replicas
// started as that section says.
//
//	rate mode:    -mode rate -urls U1,U2 -model M -rate 50 -dur 20s
//	              open loop at a fixed rate, round-robin over the URLs;
//	              counts answers by status and error code, and latency
//	              from each request's scheduled time
//	streams mode: -mode streams -urls U -model M -n 2000 -ramp 500 -settle 15s
//	              opens n streams at ramp a second and counts them as
//	              served (a first event), queued (no headers yet) or
//	              refused (with the code)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	mode := flag.String("mode", "rate", "rate|streams")
	urls := flag.String("urls", "", "base URLs, comma separated (round-robin)")
	key := flag.String("key", os.Getenv("BULWARK_ADMIN_KEY"), "bearer key")
	model := flag.String("model", "sim-chat", "model")
	rate := flag.Int("rate", 50, "req/s")
	dur := flag.Duration("dur", 20*time.Second, "duration")
	n := flag.Int("n", 2000, "streams")
	ramp := flag.Int("ramp", 500, "streams opened per second")
	settle := flag.Duration("settle", 15*time.Second, "wait after last stream opened before snapshot")
	flag.Parse()
	var l syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	l.Cur = l.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	us := strings.Split(*urls, ",")
	tr := &http.Transport{MaxIdleConnsPerHost: 10000, DisableCompression: true}
	cl := &http.Client{Transport: tr}
	stream := *mode == "streams"
	s := ""
	if stream {
		s = `"stream":true,`
	}
	body := []byte(`{"model":"` + *model + `",` + s + `"messages":[{"role":"user","content":"Explain how a circuit breaker protects a service."}]}`)
	var mu sync.Mutex
	counts := map[string]int{}
	var lat []time.Duration
	add := func(k string, d time.Duration) {
		mu.Lock()
		counts[k]++
		if k == "200" {
			lat = append(lat, d)
		}
		mu.Unlock()
	}
	code := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct {
				Code any    `json:"code"`
				Type string `json:"type"`
			} `json:"error"`
		}
		json.Unmarshal(b, &e)
		return fmt.Sprintf("%d %v", resp.StatusCode, e.Error.Code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if !stream {
		total := int(int64(*rate) * int64(*dur) / int64(time.Second))
		iv := time.Second / time.Duration(*rate)
		start := time.Now()
		for i := range total {
			at := start.Add(time.Duration(i) * iv)
			time.Sleep(time.Until(at))
			wg.Add(1)
			go func(u string) {
				defer wg.Done()
				c, cc := context.WithTimeout(ctx, 120*time.Second)
				defer cc()
				req, _ := http.NewRequestWithContext(c, "POST", u+"/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+*key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := cl.Do(req)
				if err != nil {
					add("err "+err.Error()[:min(60, len(err.Error()))], 0)
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					add(code(resp), 0)
					return
				}
				io.Copy(io.Discard, resp.Body)
				add("200", time.Since(at))
			}(us[i%len(us)])
		}
		wg.Wait()
		slices.Sort(lat)
		q := func(p float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[min(len(lat)-1, int(p*float64(len(lat))))]
		}
		fmt.Printf("sent %d in %s; outcomes %v\n200 latency (from schedule) p50 %s p90 %s p99 %s max %s\n", total, *dur, counts,
			q(.5).Round(time.Millisecond), q(.9).Round(time.Millisecond), q(.99).Round(time.Millisecond), q(1).Round(time.Millisecond))
		return
	}
	// streams: state per stream: waiting (no headers), served (200 + first event), refused (non-200)
	var waiting, served, ok200 int
	iv := time.Second / time.Duration(*ramp)
	start := time.Now()
	for i := range *n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * iv)))
		wg.Add(1)
		mu.Lock()
		waiting++
		mu.Unlock()
		go func(u string) {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", u+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+*key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := cl.Do(req)
			mu.Lock()
			waiting--
			mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					add("err "+err.Error()[:min(60, len(err.Error()))], 0)
				} else {
					add("still waiting at snapshot", 0)
				}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				add(code(resp), 0)
				return
			}
			mu.Lock()
			ok200++
			mu.Unlock()
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "data:") {
					if strings.Contains(line, `"error"`) {
						add("error event", 0)
						return
					}
					mu.Lock()
					served++
					mu.Unlock()
					io.Copy(io.Discard, br)
					return
				}
			}
		}(us[i%len(us)])
	}
	fmt.Printf("opened %d in %s; settling %s\n", *n, time.Since(start).Round(time.Millisecond), *settle)
	tick := time.NewTicker(5 * time.Second)
	end := time.After(*settle)
loop:
	for {
		select {
		case <-tick.C:
			mu.Lock()
			fmt.Printf("  t=%s waiting-for-headers %d, 200 %d, first-event %d, other %v\n", time.Since(start).Round(time.Second), waiting, ok200, served, counts)
			mu.Unlock()
		case <-end:
			break loop
		}
	}
	mu.Lock()
	fmt.Printf("SNAPSHOT: asked %d; served (200 + first event) %d; 200 without event yet %d; queued (no response yet) %d; refused/other %v\n", *n, served, ok200-served, waiting, counts)
	mu.Unlock()
	cancel()
	wg.Wait()
}
