package tenant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/usage"
)

// The snapshot file is read from disk at start, where anything may have
// damaged it: parsing never panics, and what it accepts encodes to a file
// it accepts again, unchanged.
func FuzzParseSnapshot(f *testing.F) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	exp := now.Add(time.Hour)
	good, err := newSnapshot(now, []Key{
		{ID: "key_1", TenantID: "a", Hash: HashSecret("bk-one"), Admin: true},
		{ID: "key_2", TenantID: "a", Hash: HashSecret("bk-two"), Models: []string{"chat"}, Limits: Limits{RequestsPerMinute: 5},
			Attributes: Attributes{Priority: "batch", Aliases: map[string]string{"x": "y"}}, ExpiresAt: &exp, RevokedAt: &now},
	}, []Tenant{{ID: "a", Limits: Limits{Concurrent: 2}, Attributes: Attributes{Tags: map[string]string{"t": "v"}}}},
		map[string]usage.Budget{"tenant:a": {Kind: usage.BudgetTenant, ID: "a", TenantID: "a", Period: usage.PeriodDay, Amount: 7}},
	).encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("{}\n{}"))
	f.Add([]byte(`{"format":"bulwark-keyset","version":1,"loaded_at":"2025-01-01T00:00:00Z","sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}` + "\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSnapshot(data)
		if err != nil {
			return
		}
		_ = s.set()
		once, err := s.encode()
		if err != nil {
			t.Fatalf("an accepted snapshot does not encode: %v", err)
		}
		s2, err := parseSnapshot(once)
		if err != nil {
			t.Fatalf("the encoding of an accepted snapshot is refused: %v\n%s", err, once)
		}
		twice, err := s2.encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("re-encoding changed the snapshot:\n%s\n%s", once, twice)
		}
	})
}

// FuzzParseSnapshotBody fuzzes the body behind a header whose checksum
// matches it, which FuzzParseSnapshot rarely reaches.
func FuzzParseSnapshotBody(f *testing.F) {
	good, err := newSnapshot(time.Now(), []Key{{ID: "key_1", TenantID: "a", Hash: HashSecret("bk-one"), Models: []string{"m"}}},
		[]Tenant{{ID: "a"}}, map[string]usage.Budget{"key:key_1": {Kind: usage.BudgetKey, ID: "key_1", TenantID: "a", Period: usage.PeriodMonth, Amount: 1}},
	).encode()
	if err != nil {
		f.Fatal(err)
	}
	_, body, _ := bytes.Cut(good, []byte{'\n'})
	f.Add(body)
	f.Add([]byte(`{"keys":[{"id":"k","tenant_id":"a","hash":"00"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		data := fmt.Appendf(nil, `{"format":%q,"version":%d,"loaded_at":"2025-01-01T00:00:00Z","sha256":%q}`+"\n%s",
			snapshotFormat, snapshotVersion, hex.EncodeToString(sum[:]), body)
		s, err := parseSnapshot(data)
		if err != nil {
			return
		}
		_ = s.set()
		once, err := s.encode()
		if err != nil {
			t.Fatalf("an accepted snapshot does not encode: %v", err)
		}
		s2, err := parseSnapshot(once)
		if err != nil {
			t.Fatalf("the encoding of an accepted snapshot is refused: %v\n%s", err, once)
		}
		if twice, _ := s2.encode(); !bytes.Equal(once, twice) {
			t.Fatalf("re-encoding changed the snapshot:\n%s\n%s", once, twice)
		}
	})
}
