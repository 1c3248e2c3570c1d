package ragtest

import (
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/rag"
)

// testLeases: a file in progress is held by one owner at a time until its
// lease runs out or is released; the holder renews it; a file that is
// not in progress cannot be claimed; attaching a file again clears the
// lease of its earlier ingestion.
func testLeases(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	putFile(t, r, "acme", "f1", 1)
	putFile(t, r, "acme", "f2", 2)
	attach(t, r, "acme", "vs", "f1", 3)
	attach(t, r, "acme", "vs", "f2", 4)
	claim := func(file, owner string, ttl time.Duration) bool {
		t.Helper()
		held, err := r.Claim(ctx, "vs", file, owner, ttl)
		must(t, "Claim "+file+" by "+owner, err)
		return held
	}
	if !claim("f1", "a", time.Minute) {
		t.Fatal("Claim of an unclaimed file in progress = false")
	}
	if claim("f1", "b", time.Minute) {
		t.Fatal("b claimed f1 while a's lease is live")
	}
	if !claim("f1", "a", time.Minute) {
		t.Fatal("a could not renew its own lease")
	}
	if !claim("f2", "b", time.Minute) {
		t.Fatal("a lease on f1 kept b from f2")
	}
	if claim("nope", "a", time.Minute) {
		t.Fatal("Claim of a file not attached = true")
	}

	// Released: another owner takes it at once. A release by an owner
	// that does not hold the lease changes nothing.
	must(t, "Release by b", r.Release(ctx, "vs", "f1", "b"))
	if claim("f1", "b", time.Minute) {
		t.Fatal("b took f1 after releasing a lease it did not hold")
	}
	must(t, "Release by a", r.Release(ctx, "vs", "f1", "a"))
	if !claim("f1", "b", time.Minute) {
		t.Fatal("b could not take f1 that a released")
	}

	// A lease that runs out is anyone's.
	if !claim("f2", "b", 50*time.Millisecond) {
		t.Fatal("b could not renew f2 with a short lease")
	}
	time.Sleep(300 * time.Millisecond)
	if !claim("f2", "c", time.Minute) {
		t.Fatal("c could not take f2 whose lease ran out")
	}

	// Attached again after a cancellation: the earlier ingestion's lease
	// is gone with it.
	if _, err := r.SetStatus(ctx, "vs", "f2", rag.Cancelled, nil); err != nil {
		t.Fatal(err)
	}
	if claim("f2", "c", time.Minute) {
		t.Fatal("Claim of a cancelled file = true")
	}
	attach(t, r, "acme", "vs", "f2", 5)
	if !claim("f2", "d", time.Minute) {
		t.Fatal("the lease of a cancelled ingestion kept the file attached again from d")
	}
	if _, err := r.SetStatus(ctx, "vs", "f1", rag.Completed, nil); err != nil {
		t.Fatal(err)
	}
	if claim("f1", "b", time.Minute) {
		t.Fatal("Claim of a completed file = true")
	}
}
