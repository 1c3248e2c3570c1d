package faults

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// statuses returns request id → usage status of the ledger rows whose
// request id starts with prefix.
type statuses func(ctx context.Context, prefix string) (map[string]string, error)

func sqliteStatuses(data string) statuses {
	return func(ctx context.Context, prefix string) (map[string]string, error) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "bulwark.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			return nil, err
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `SELECT request_id, status FROM usage_records WHERE request_id LIKE ? || '%'`, prefix)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var id, st string
			if err := rows.Scan(&id, &st); err != nil {
				return nil, err
			}
			out[id] = st
		}
		return out, rows.Err()
	}
}

func pgStatuses(pg string) statuses {
	return func(ctx context.Context, prefix string) (map[string]string, error) {
		conn, err := pgx.Connect(ctx, pg)
		if err != nil {
			return nil, err
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT request_id, status FROM usage_records WHERE request_id LIKE $1 || '%'`, prefix)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var id, st string
			if err := rows.Scan(&id, &st); err != nil {
				return nil, err
			}
			out[id] = st
		}
		return out, rows.Err()
	}
}

// waitRows waits up to d for the ledger to hold want rows of prefix.
func waitRows(t *testing.T, read statuses, prefix string, want int, d time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		rows, err := read(t.Context(), prefix)
		if err == nil && len(rows) >= want {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger holds %d rows of %s after %v (err %v); want %d", len(rows), prefix, d, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createKey creates tenant acme (unless it exists) and a key of it with
// limits (JSON, "" for none), and returns the key's secret.
func createKey(t *testing.T, p *proc, limits string) string {
	t.Helper()
	ctx := t.Context()
	if st, body, err := p.do(ctx, "POST", "/admin/v1/tenants", `{"id":"acme"}`); err != nil || (st != 201 && st != 409) {
		t.Fatalf("create tenant: %d %s %v", st, body, err)
	}
	key := `{"tenant_id":"acme","name":"app"}`
	if limits != "" {
		key = `{"tenant_id":"acme","name":"app","limits":` + limits + `}`
	}
	st, body, err := p.do(ctx, "POST", "/admin/v1/keys", key)
	if err != nil || st != 201 {
		t.Fatalf("create key: %d %s %v", st, body, err)
	}
	var k struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Secret == "" {
		t.Fatalf("created key: %v %s", err, body)
	}
	return k.Secret
}

// chatAs sends a chat completion with key secret and request id id and
// returns the status.
func (p *proc) chatAs(ctx context.Context, secret, id string) (int, []byte, error) {
	return p.do(ctx, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hello"}],"max_tokens":16}`,
		"Authorization", "Bearer "+secret, "X-Request-Id", id)
}

// readiness is what /readyz answers.
type readiness struct {
	code   int
	took   time.Duration
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
	raw string
}

// readyz asks /readyz with Kubernetes' default probe timeout, 1s.
func (p *proc) readyz(t *testing.T) readiness {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	st, body, err := p.do(ctx, "GET", "/readyz", "")
	if err != nil {
		t.Fatalf("/readyz did not answer within Kubernetes' default 1s probe timeout: %v", err)
	}
	r := readiness{code: st, took: time.Since(start), raw: string(body)}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	return r
}

// Row "SIGTERM with 20 streams in flight and shutdown_grace: 3s": every
// stream still open when the grace runs out ends with an error event that
// says the server is shutting down, never a bare EOF, and every one of
// them is in the ledger once the process has exited.
func TestSIGTERMEndsOpenStreamsWithAnErrorAndRecordsThem(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, fastSim+"server: {shutdown_grace: 1s}\n")
	const n = 20
	var started sync.WaitGroup
	ends := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		started.Add(1)
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", p.url+"/v1/chat/completions",
				strings.NewReader(`{"model":"slow","stream":true,"messages":[{"role":"user","content":"hello"}]}`))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("X-Request-Id", fmt.Sprintf("term-%02d", i))
			resp, err := client.Do(req)
			started.Done()
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			ends[i], errs[i] = sseEnd(resp.Body)
		})
	}
	started.Wait()
	time.Sleep(300 * time.Millisecond) // every stream has content under way
	if err := p.term(15 * time.Second); err != nil {
		t.Fatalf("bulwark serve after SIGTERM: %v\n%s", err, p.logs)
	}
	wg.Wait()
	for i := range n {
		switch {
		case errs[i] != nil:
			t.Errorf("stream %d: %v", i, errs[i])
		case ends[i] == "[DONE]":
			t.Errorf("stream %d ended with [DONE]: it cannot have finished within the grace", i)
		case !strings.Contains(ends[i], `"error"`) || !strings.Contains(strings.ToLower(ends[i]), "shutting down"):
			t.Errorf("stream %d ended with %q; want an error event saying the server is shutting down", i, ends[i])
		}
	}
	rows, err := sqliteStatuses(data)(t.Context(), "term-")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Errorf("the ledger holds %d of the %d streams cut by the shutdown: %v\n%s", len(rows), n, rows, p.logs)
	}
}

// Row "a replica restarted while Postgres was unreachable": it starts,
// serves the keys it knew from its local snapshot, and its usage reaches
// Postgres once Postgres is back, without a restart.
func TestReplicaStartsWithPostgresDownAndCatchesUp(t *testing.T) {
	pg, proxied, px := postgresBehindProxy(t)
	data := filepath.Join(t.TempDir(), "data")
	cfg := fastSim + fmt.Sprintf("store: {type: postgres, url: %q}\n", proxied)
	p := serve(t, data, cfg)
	secret := createKey(t, p, "")
	if st, body, err := p.chatAs(t.Context(), secret, "before-0"); err != nil || st != 200 {
		t.Fatalf("chat: %d %s %v", st, body, err)
	}
	if err := p.term(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	px.Cut()
	p2 := serve(t, data, cfg)
	for i := range 5 {
		if st, body, err := p2.chatAs(t.Context(), secret, fmt.Sprintf("down-%d", i)); err != nil || st != 200 {
			t.Fatalf("chat %d with Postgres down since start: %d %s %v", i, st, body, err)
		}
	}
	if r := p2.readyz(t); r.code != 200 || r.Status != "degraded" || !strings.Contains(r.raw, "snapshot") {
		t.Errorf("readyz of a replica serving from its snapshot: %d %s; want 200, degraded, and the snapshot's age", r.code, r.raw)
	}
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	rows := waitRows(t, pgStatuses(pg), "down-", 5, 20*time.Second)
	for id, st := range rows {
		if st != "ok" {
			t.Errorf("%s: status %q; want ok", id, st)
		}
	}
	select {
	case <-p2.done:
		t.Fatal("the replica exited")
	default:
	}
}

// Rows "Postgres frozen (SIGSTOP)" and "admin reads while Postgres is
// down": /readyz answers at once, saying the store does not answer;
// requests are still served; admin reads answer 503 with the reason and
// nothing internal.
func TestFrozenPostgresReadyzAnswersAtOnce(t *testing.T) {
	_, proxied, px := postgresBehindProxy(t)
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, fastSim+fmt.Sprintf("store: {type: postgres, url: %q}\n", proxied))
	if r := p.readyz(t); r.Status != "ok" {
		t.Fatalf("readyz before the freeze: %s", r.raw)
	}
	px.Freeze()
	time.Sleep(2500 * time.Millisecond) // more than one probe interval
	for range 3 {
		r := p.readyz(t)
		if r.code != 200 || r.Status != "degraded" || r.Checks["store"].Status == "ok" {
			t.Errorf("readyz with Postgres frozen: %d %s; want 200, degraded, store not ok", r.code, r.raw)
		}
	}
	if st, body, err := p.chatAs(t.Context(), adminKey, "frozen-0"); err != nil || st != 200 {
		t.Errorf("chat with Postgres frozen: %d %s %v", st, body, err)
	}

	px.Cut()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, body, err := p.do(ctx, "GET", "/admin/v1/usage", "")
	if err != nil {
		t.Fatal(err)
	}
	if st != 503 || !strings.Contains(string(body), `"error"`) || !strings.Contains(strings.ToLower(string(body)), "store") {
		t.Errorf("admin usage with Postgres down: %d %s; want 503 saying the store is unavailable", st, body)
	}
	for _, leak := range []string{px.Addr(), "127.0.0.1", "dial tcp", "connect_timeout"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("admin error quotes %q: %s", leak, body)
		}
	}
}

// Row "/readyz right after start with Redis down": the first answer
// already says limits are enforced locally.
func TestReadyzRightAfterStartWithRedisDown(t *testing.T) {
	_, px := redisBehindProxy(t)
	px.Cut()
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, fastSim+fmt.Sprintf("limits: {backend: redis, redis_url: %q, prefix: %q}\n",
		"redis://"+px.Addr()+"/0", "bulwark-faults-"+randomHex()+":"))
	r := p.readyz(t)
	if r.Status != "degraded" || r.Checks["limits"].Status == "ok" {
		t.Errorf("first readyz with Redis down: %s; want degraded with limits not ok", r.raw)
	}
}

// Rows "requests refused with 429" and "fallback_share: 0.34 of 600":
// refused requests are in the ledger with their real status, and a
// replica without Redis admits exactly 204 of a 600-a-minute key.
func TestLocalShareIsExactAndRefusalsAreRecorded(t *testing.T) {
	_, px := redisBehindProxy(t)
	px.Cut()
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, fastSim+fmt.Sprintf("limits: {backend: redis, redis_url: %q, prefix: %q, fallback_share: 0.34}\n",
		"redis://"+px.Addr()+"/0", "bulwark-faults-"+randomHex()+":"))
	secret := createKey(t, p, `{"requests_per_minute":600}`)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 60 {
				st, _, err := p.chatAs(t.Context(), secret, fmt.Sprintf("share-%d-%02d", g, i))
				switch {
				case err != nil:
					t.Error(err)
				case st == 200:
					ok.Add(1)
				case st == 429:
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 204 {
		t.Errorf("a replica without Redis admitted %d of a 600-a-minute key with fallback_share 0.34; want 204", ok.Load())
	}
	rows := waitRows(t, sqliteStatuses(data), "share-", 240, 10*time.Second)
	var limited int
	for _, st := range rows {
		switch st {
		case "ok":
		case "rate_limited":
			limited++
		default:
			t.Errorf("a ledger row has status %q", st)
		}
	}
	if int64(limited) != refused.Load() {
		t.Errorf("%d refusals in the ledger as rate_limited; %d were refused", limited, refused.Load())
	}
}

// Row "Redis restarted empty during an outage": what the replica admitted
// before and during the outage is carried into the restarted Redis, so
// the key gets no more than its limit plus one local share in the minute.
func TestRedisRestartedEmptyKeepsTheLimit(t *testing.T) {
	o, px := redisBehindProxy(t)
	prefix := "bulwark-faults-" + randomHex() + ":"
	data := filepath.Join(t.TempDir(), "data")
	p := serve(t, data, fastSim+fmt.Sprintf("limits: {backend: redis, redis_url: %q, prefix: %q, fallback_share: 0.5}\n",
		"redis://"+px.Addr()+"/0", prefix))
	secret := createKey(t, p, `{"requests_per_minute":60}`)
	admitted := 0
	send := func(n int, tag string) {
		for i := range n {
			st, body, err := p.chatAs(t.Context(), secret, fmt.Sprintf("%s-%03d", tag, i))
			if err != nil {
				t.Fatal(err)
			}
			switch st {
			case 200:
				admitted++
			case 429:
			default:
				t.Fatalf("%s %d: %d %s", tag, i, st, body)
			}
		}
	}
	send(20, "before")
	if admitted != 20 {
		t.Fatalf("%d of 20 admitted through Redis; want 20", admitted)
	}

	px.Cut()
	// Redis restarts empty: everything it counted for the test is gone.
	rc := goredis.NewClient(o)
	defer rc.Close()
	keys, err := rc.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no Redis key under the test's prefix: the limit was not counted in Redis")
	}
	if err := rc.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	send(40, "during")

	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for p.readyz(t).Checks["limits"].Status != "ok" {
		if time.Now().After(deadline) {
			t.Fatal("limits still degraded 15s after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	send(100, "after")
	// One replica: the limit (60) plus its local share (30) at most.
	if admitted > 90 {
		t.Errorf("the key was admitted %d times in the minute; want at most 90 (limit 60 plus one local share of 30)", admitted)
	}
	t.Logf("admitted %d in the minute", admitted)
}
