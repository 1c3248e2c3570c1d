package ui_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bulwark-ai/bulwark/app"
)

const adminKey = "bw-console-test-admin-key-0123456789"

// chromium finds Debian's Chromium; without it the test is skipped, except
// in CI, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: apt-get install chromium")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// artifacts is where the screenshots go: $BULWARK_TEST_ARTIFACTS, or a
// directory under the system's temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("BULWARK_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bulwark-ui-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// serve starts Bulwark as `bulwark serve` does, with the simulator, the
// request log and a price for the simulated chat model.
func serve(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte(`
prices:
  sim-chat: {input: 3, output: 15}
telemetry:
  request_log: {enabled: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data"), AdminKey: adminKey, Out: io.Discard, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return "http://" + ln.Addr().String()
}

func chat(t *testing.T, base, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"sim-chat","messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestConsoleInBrowser signs in to the console in a headless Chromium,
// visits every page (failing on any console error or uncaught exception),
// checks that the overview charts the traffic sent, creates a key in the
// UI and uses it against /v1, and keeps a screenshot of each page.
func TestConsoleInBrowser(t *testing.T) {
	bin := chromium(t)
	shots := artifacts(t)
	base := serve(t)

	const sent = 7
	for range sent {
		if code := chat(t, base, adminKey); code != 200 {
			t.Fatalf("chat: %d", code)
		}
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems []string
	t.Cleanup(func() { // also when a step fails
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Error(p)
		}
	})
	listen := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		}
	})
	if listen != nil {
		t.Fatalf("start chromium: %v", listen)
	}

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	ready := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`main[data-page="` + page + `"][data-ready="true"]`))
	}
	visit := func(page string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.Navigate(base+"/ui/#/"+page), ready(page))
	}

	// Sign in.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("login-key")),
		shot("0-login"),
		chromedp.SendKeys(chromedp.ID("login-key"), adminKey),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		ready("overview"),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}

	// The overview charts the requests sent.
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#chart-requests .chart svg path.line`)),
		shot("1-overview"),
	); err != nil {
		t.Fatalf("overview: %v", err)
	}
	total, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#chart-requests .chart`), "data-total"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(total.Value); n < sent {
		t.Errorf("the requests chart shows %q requests; want at least the %d sent", total.Value, sent)
	}

	// A key created in the UI works against /v1.
	if err := chromedp.Do(ctx,
		visit("tenants"),
		chromedp.WaitVisible(chromedp.ID("key-form")),
		chromedp.SendKeys(chromedp.ID("key-name"), "made-in-the-console"),
		chromedp.SendKeys(chromedp.ID("key-new-rpm"), "600"),
		chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new-secret-value")),
		chromedp.WaitVisible(chromedp.Search(`//table[@id="keys-table"]//strong[normalize-space()="made-in-the-console"]`)),
		shot("2-tenants"),
	); err != nil {
		t.Fatalf("create a key: %v", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("new-secret-value")))
	if err != nil || strings.TrimSpace(secret) == "" {
		t.Fatalf("the console showed no secret: %q, %v", secret, err)
	}
	if code := chat(t, base, strings.TrimSpace(secret)); code != 200 {
		t.Errorf("chat with the key made in the console: %d; want 200", code)
	}

	// A baseline for the drift page to compare with, and requests since.
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/v1/drift/sim-chat/rebaseline", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("rebaseline: %v %v", res, err)
	}
	for range 3 {
		chat(t, base, adminKey)
	}

	// Every other page loads.
	if err := chromedp.Do(ctx,
		visit("routing"), chromedp.WaitVisible(chromedp.ID("breakers-table")), shot("3-routing"),
		visit("drift"), shot("4-drift"),
		visit("requests"),
		chromedp.WaitVisible(chromedp.CSS(`#requests-table tbody tr`)),
		chromedp.Click(chromedp.CSS(`#requests-table tbody tr`)),
		chromedp.WaitVisible(chromedp.CSS(`#request-detail .card`)),
		shot("5-requests"),
		visit("usage"), chromedp.WaitVisible(chromedp.CSS(`#chart-usage svg`)), shot("6-usage"),
		visit("simulator"), chromedp.WaitVisible(chromedp.ID("sim-apply")),
		chromedp.SetValue(chromedp.ID("sim-err-503"), "0.5"),
		chromedp.Click(chromedp.ID("sim-apply")),
		chromedp.WaitVisible(chromedp.CSS(`#sim-state.error`)),
		shot("7-simulator"),
		chromedp.Click(chromedp.ID("sim-clear")),
		chromedp.WaitVisible(chromedp.CSS(`#sim-state.muted`)),
	); err != nil {
		t.Fatalf("pages: %v", err)
	}
}
