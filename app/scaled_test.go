package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// scaledURLs returns the Postgres and Redis the scaled-shape tests use
// (BULWARK_TEST_POSTGRES_URL, BULWARK_TEST_REDIS_URL, else local servers).
// It skips the test when either is unreachable, except in CI (CI=true),
// where that is a failure.
func scaledURLs(t *testing.T) (pg, rd string) {
	t.Helper()
	pg = os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	rd = os.Getenv("BULWARK_TEST_REDIS_URL")
	if rd == "" {
		rd = "redis://127.0.0.1:6379/0"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	unreachable := func(what string, err error) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", what, err)
		}
		t.Skipf("%s unreachable: %v", what, err)
	}
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		unreachable("postgres (BULWARK_TEST_POSTGRES_URL)", err)
	}
	_ = conn.Close(ctx)
	o, err := goredis.ParseURL(rd)
	if err != nil {
		t.Fatalf("BULWARK_TEST_REDIS_URL: %v", err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		unreachable("redis (BULWARK_TEST_REDIS_URL)", err)
	}
	return pg, rd
}

// pgSchema creates a schema for the test, dropped when it ends, and
// returns a URL whose search_path selects it.
func pgSchema(t *testing.T, pg string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "bulwark_app_" + hex.EncodeToString(b[:])
	exec := func(ctx context.Context, sql string) {
		conn, err := pgx.Connect(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(t.Context(), "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	if !strings.HasPrefix(pg, "postgres://") && !strings.HasPrefix(pg, "postgresql://") {
		return pg + " search_path=" + schema
	}
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// scaledReplicas starts n replicas of base sharing a Postgres schema and
// a Redis key prefix of the test's own. The test is of a healthy Redis: a
// loaded machine running -race may take longer than the default limits
// timeout for a call, which is the fallback path to local shares
// (TestRedisUnreachableServesDegraded), hence 5s.
func scaledReplicas(t *testing.T, base string, n int) []*testServer {
	t.Helper()
	pg, rd := scaledURLs(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "bulwark-test-" + hex.EncodeToString(b[:]) + ":"
	cfg := base + fmt.Sprintf(`
store: {type: postgres, url: %q}
limits: {backend: redis, redis_url: %q, prefix: %q, timeout: 5s}
`, pgSchema(t, pg), rd, prefix)
	var replicas []*testServer
	for range n {
		replicas = append(replicas, start(t, cfg))
	}
	return replicas
}

// Issue 7 item 5: three gateway processes sharing Postgres and Redis, a key
// limited to 60 requests a minute, 300 requests spread across them: at most
// 61 accepted.
func TestScaledThreeReplicasShareOneLimit(t *testing.T) {
	replicas := scaledReplicas(t, fastConfig, 3)
	// The key is created on one replica; the others hear of it through
	// Postgres notifications.
	keyID, secret := createKey(t, replicas[0], `{"id":"acme"}`,
		`{"tenant_id":"acme","name":"app","limits":{"requests_per_minute":60}}`)
	for i, r := range replicas {
		deadline := time.Now().Add(2 * time.Second)
		for {
			resp, _ := r.do(t, "GET", "/v1/models", "", "Authorization", "Bearer "+secret)
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d does not know the new key after 2s: %d", i, resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 30)
	for i := range 300 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, body := replicas[i%3].do(t, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret)
			switch resp.StatusCode {
			case 200:
				accepted.Add(1)
			case 429:
				refused.Add(1)
			default:
				t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n > 61 || n < 60 {
		t.Errorf("%d of 300 requests accepted across 3 replicas; want 60 (at most 61)", n)
	}
	if accepted.Load()+refused.Load() != 300 {
		t.Errorf("accepted %d + refused %d != 300", accepted.Load(), refused.Load())
	}

	// Every accepted request is in the shared ledger once.
	waitUsage(t, replicas[1], "tenant_id=acme&key_id="+keyID+"&group_by=key", 300)

	// A key revoked on one replica stops on every replica within a second.
	if resp, body := replicas[2].do(t, "POST", "/admin/v1/keys/"+keyID+"/revoke", ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(time.Second)
	for i, r := range replicas {
		for {
			resp, _ := r.do(t, "GET", "/v1/models", "", "Authorization", "Bearer "+secret)
			if resp.StatusCode == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d still accepts the revoked key after a second", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
