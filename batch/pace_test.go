package batch

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

var answered = Result{StatusCode: 200}

// The pacer starts at one line, opens by one for each line that went
// straight through, closes by one for each that waited, halves on a
// refusal that passes, and stays within [1, max].
func TestPacerOpensOnFastLinesAndClosesOnWaits(t *testing.T) {
	p := newPacer(8)
	ctx := context.Background()
	run := func(took time.Duration, r Result) {
		t.Helper()
		if err := p.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		p.release(took, r)
	}
	for range 20 {
		run(100*time.Millisecond, answered)
	}
	if p.limit != 8 {
		t.Fatalf("limit = %v after 20 fast lines, want the maximum 8", p.limit)
	}
	run(time.Second, answered) // waited for spare room
	if p.limit != 7 {
		t.Fatalf("limit = %v after a line that waited, want 7", p.limit)
	}
	run(10*time.Millisecond, Result{StatusCode: 400}) // an error: not timed
	if p.limit != 7 {
		t.Fatalf("limit = %v after an error, want it as it was", p.limit)
	}
	run(150*time.Millisecond, answered) // within twice the fastest
	if p.limit != 8 {
		t.Fatalf("limit = %v, want 8", p.limit)
	}
	run(100*time.Millisecond, Result{StatusCode: 503, Busy: true})
	if p.limit != 4 {
		t.Fatalf("limit = %v after a refusal, want halved to 4", p.limit)
	}
	for range 10 {
		run(time.Second, Result{StatusCode: 503, Busy: true})
	}
	if p.limit != 1 {
		t.Fatalf("limit = %v, want it at its floor of 1", p.limit)
	}
}

// Lines beyond the limit wait until one returns; a waiter leaves when its
// context ends.
func TestPacerBoundsLinesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(4)
		ctx := context.Background()
		if err := p.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() { got <- p.acquire(ctx) }()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("a second line started with a limit of 1")
		}
		p.release(100*time.Millisecond, answered) // fast: the limit opens to 2
		synctest.Wait()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if err := p.acquire(ctx); err != nil { // 2 of 2
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() { got <- p.acquire(cctx) }()
		synctest.Wait()
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled waiter: %v", err)
		}
	})
}

// The fastest line is forgotten after two windows of 256 lines, so a
// model that became slower for good does not read as a queue forever.
func TestPacerForgetsAnOldFastestLine(t *testing.T) {
	p := newPacer(64)
	p.fast(10 * time.Millisecond)
	for range 600 {
		p.fast(100 * time.Millisecond)
	}
	if !p.fast(150 * time.Millisecond) {
		t.Fatal("a line at 1.5x the fastest of the last windows read as waiting")
	}
}
