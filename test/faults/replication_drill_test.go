package faults

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/backup/s3test"
)

// replicaSim answers chats at once and streams the database to the
// replica with the default sync interval (1s).
const replicaSim = `
log: {level: info}
providers:
  lab:
    type: sim
    models:
      quick-chat:
        ttft: {p50: 1ms}
        itl: {p50: 1ms}
        output_tokens: {min: 8, max: 8}
models:
  - name: chat
    targets: [{provider: lab, model: quick-chat}]
backup: {replicate: %q}
`

// ack is a write acknowledged to a client, and when.
type ack struct {
	id string
	at time.Time
}

// acks collects acknowledgements from concurrent writers.
type acks struct {
	mu   sync.Mutex
	list []ack
}

func (a *acks) add(id string) {
	a.mu.Lock()
	a.list = append(a.list, ack{id, time.Now()})
	a.mu.Unlock()
}

func (a *acks) snapshot() []ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.list)
}

// lossWindow is how long before killed the oldest acknowledged write
// missing from have was acknowledged: the writes a lost machine lost go
// back that far. Zero when none is missing.
func lossWindow(acked []ack, have map[string]bool, killed time.Time) (time.Duration, int) {
	var window time.Duration
	missing := 0
	for _, a := range acked {
		if !have[a.id] {
			missing++
			window = max(window, killed.Sub(a.at))
		}
	}
	return window, missing
}

// Issue 16 item 6, the disaster recovery drill: a server streams its
// database to object storage (backup.replicate) while it takes chat
// traffic and admin writes; it is killed with SIGKILL at a moment of its
// choosing, its machine and data directory counted lost; `bulwark
// restore --replica` rebuilds the data directory elsewhere and a standby
// serves from it, with the keys and tenants of the first. Three rounds
// measure the worst case of what is lost: the writes acknowledged in the
// last seconds before the kill. A tenant created through the admin API is
// in the database when acknowledged, so its loss is replication's lag
// alone; a chat's usage record also waits for the usage log's flush into
// the database (up to 1s).
func TestReplicationDrill(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "") // Litestream's S3 client cannot use it (backup.errCABundle)
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	var worstAdmin, worstUsage time.Duration
	for round := range 3 {
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		replica := srv.URL(fmt.Sprintf("replica/round-%d/", round))
		p := serve(t, data, fmt.Sprintf(replicaSim, replica))
		secret := createKey(t, p, "")

		var (
			chats, tenants acks
			seq            atomic.Int64
			stop           atomic.Bool
			wg             sync.WaitGroup
		)
		for w := range 5 {
			wg.Go(func() {
				for !stop.Load() && ctx.Err() == nil {
					id := fmt.Sprintf("r%d-%d", round, seq.Add(1))
					if w == 0 {
						// Admin writes: a tenant, committed when answered.
						st, _, err := p.do(ctx, "POST", "/admin/v1/tenants", fmt.Sprintf(`{"id":%q}`, id))
						if err == nil && st == http.StatusCreated {
							tenants.add(id)
						}
						continue
					}
					st, b, err := p.chatAs(ctx, secret, id)
					if err == nil && st == http.StatusOK && strings.Contains(string(b), `"finish_reason"`) {
						chats.add(id)
					}
				}
			})
		}
		// Load for 3 to 4.5 seconds (a kill at a different point of the
		// sync cycle each round), then the machine is gone.
		time.Sleep(3*time.Second + time.Duration(round)*700*time.Millisecond)
		killed := time.Now()
		p.kill()
		stop.Store(true)
		wg.Wait()
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}

		// The standby, elsewhere.
		standby := filepath.Join(t.TempDir(), "standby")
		out, err := exec.CommandContext(ctx, bin, "restore", "--replica", replica, "--data-dir", standby).CombinedOutput()
		if err != nil {
			t.Fatalf("bulwark restore --replica: %v\n%s", err, out)
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(standby, "bulwark.db")+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		haveTenants, haveUsage := ids(t, db, "SELECT id FROM tenants"), ids(t, db, "SELECT request_id FROM usage_records")
		db.Close()
		ta, ca := tenants.snapshot(), chats.snapshot()
		adminLoss, adminMissing := lossWindow(ta, haveTenants, killed)
		usageLoss, usageMissing := lossWindow(ca, haveUsage, killed)
		t.Logf("round %d: %d tenants acknowledged, %d lost (the oldest %v before the kill); %d chats acknowledged, %d usage records lost (the oldest %v before the kill)",
			round, len(ta), adminMissing, adminLoss.Round(time.Millisecond), len(ca), usageMissing, usageLoss.Round(time.Millisecond))
		worstAdmin, worstUsage = max(worstAdmin, adminLoss), max(worstUsage, usageLoss)
		if len(ta) < 10 || len(ca) < 100 {
			t.Fatalf("too little load to measure: %d tenants, %d chats", len(ta), len(ca))
		}

		// The standby takes over: the key made on the lost machine
		// authenticates, and it serves (and replicates on, to a prefix
		// of its own).
		p = serve(t, standby, fmt.Sprintf(replicaSim, srv.URL(fmt.Sprintf("replica/round-%d-standby/", round))))
		if st := p.authAs(ctx, t, secret); st != http.StatusOK {
			t.Errorf("round %d: the key made before the loss answers %d on the standby", round, st)
		}
		if st, b, err := p.chatAs(ctx, secret, fmt.Sprintf("standby-%d", round)); err != nil || st != http.StatusOK {
			t.Errorf("round %d: a chat on the standby: %d %s %v", round, st, b, err)
		}
		if err := p.term(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("worst case over 3 rounds: admin writes lost back to %v before the kill, usage records back to %v",
		worstAdmin.Round(time.Millisecond), worstUsage.Round(time.Millisecond))
	// A sync every second, and the usage log's flush every second: a
	// few seconds at most, with room for a slow machine.
	if worstAdmin > 3*time.Second || worstUsage > 4*time.Second {
		t.Errorf("a lost machine lost more than a few seconds of writes: admin %v, usage %v", worstAdmin, worstUsage)
	}
}

func ids(t *testing.T, db *sql.DB, query string) map[string]bool {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return have
}
