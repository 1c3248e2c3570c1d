package sim

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func TestRPM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSim(t, func(m *config.SimModel) { m.RPM = 2 })
		ctx := t.Context()
		for i := range 2 {
			if _, err := s.Chat(ctx, chatReq("x")); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			time.Sleep(10 * time.Second)
		}
		_, err := s.Chat(ctx, chatReq("x"))
		e := wantKind(t, err, llm.KindRateLimited)
		if e.Status != 429 || e.Code != "rate_limit_exceeded" || e.Type != "requests" || e.RetryAfter != 40*time.Second {
			t.Errorf("error = %+v", e)
		}
		time.Sleep(e.RetryAfter)
		if _, err := s.Chat(ctx, chatReq("x")); err != nil {
			t.Errorf("after Retry-After: %v", err)
		}
		_, err = s.Chat(ctx, chatReq("x"))
		if e := wantKind(t, err, llm.KindRateLimited); e.RetryAfter != 10*time.Second {
			t.Errorf("second refusal waits %s, want 10s", e.RetryAfter)
		}
	})
}

func TestTPM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each request costs 3+4+1 prompt tokens and 10 completion tokens.
		s := newTestSim(t, func(m *config.SimModel) {
			m.TPM = 40
			m.OutputTokens = config.Range{Min: 10, Max: 10}
		})
		ctx := t.Context()
		for i := range 2 {
			if _, err := s.Chat(ctx, chatReq("x")); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			time.Sleep(5 * time.Second)
		}
		_, err := s.Chat(ctx, chatReq("x"))
		e := wantKind(t, err, llm.KindRateLimited)
		if e.Type != "tokens" || e.RetryAfter != 50*time.Second {
			t.Errorf("error = %+v", e)
		}
		// A request over the limit by itself never fits.
		big := chatReq(string(make([]byte, 200)))
		_, err = s.Chat(ctx, big)
		if e := wantKind(t, err, llm.KindRateLimited); e.RetryAfter != 0 {
			t.Errorf("too large: %+v", e)
		}
		time.Sleep(50 * time.Second)
		if _, err := s.Chat(ctx, chatReq("x")); err != nil {
			t.Errorf("after the window moved: %v", err)
		}
	})
}

func TestCapacity(t *testing.T) {
	for _, status := range []int{0, 503} {
		synctest.Test(t, func(t *testing.T) {
			s := newTestSim(t, func(m *config.SimModel) {
				m.MaxConcurrency, m.Queue, m.OverCapacityStatus = 1, 1, status
				m.TTFT = fixed(ms(1000))
			})
			start := time.Now()
			done := make(chan time.Duration, 2)
			for range 2 {
				go func() {
					if _, err := s.Chat(t.Context(), chatReq("x")); err != nil {
						t.Error(err)
					}
					done <- time.Since(start)
				}()
			}
			synctest.Wait() // one in service, one queued
			_, err := s.Chat(t.Context(), chatReq("x"))
			want := llm.KindRateLimited
			if status == 503 {
				want = llm.KindOverloaded
			}
			if e := wantKind(t, err, want); e.Code != "overloaded" || time.Since(start) != 0 {
				t.Errorf("over capacity: %+v after %s", e, time.Since(start))
			}
			if a, b := <-done, <-done; a != time.Second || b != 2*time.Second {
				t.Errorf("served after %s and %s, want 1s and 2s", a, b)
			}

			// A caller may give up while queued.
			st, err := s.Stream(t.Context(), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			_, err = s.Chat(ctx, chatReq("x"))
			wantKind(t, err, llm.KindTimeout)
			// Closing a stream gives its slot back.
			st.Close()
			if _, err := s.Chat(t.Context(), chatReq("x")); err != nil {
				t.Errorf("after Close: %v", err)
			}
		})
	}
}

func TestCapacitySlotReturned(t *testing.T) {
	// Every way a call ends gives its slot back: with one slot and no
	// queue, each next call would be refused otherwise.
	synctest.Test(t, testCapacitySlotReturned)
}

func testCapacitySlotReturned(t *testing.T) {
	s := newTestSim(t, func(m *config.SimModel) { m.MaxConcurrency = 1 })
	ctx := t.Context()
	run := func(name string, f config.Faults, op func() error) {
		t.Helper()
		if err := s.SetFaults(chatModel, f); err != nil {
			t.Fatal(err)
		}
		op()
		s.SetFaults(chatModel, config.Faults{})
		if _, err := s.Chat(ctx, chatReq("x")); err != nil {
			t.Errorf("after %s: %v", name, err)
		}
	}
	chat := func() error { _, err := s.Chat(ctx, chatReq("x")); return err }
	stream := func() error {
		st, err := s.Stream(ctx, chatReq("x"))
		if err != nil {
			return err
		}
		_, err = recvTokens(st)
		return err
	}
	run("a plain answer", config.Faults{}, chat)
	run("a stream read to its end", config.Faults{}, stream)
	run("an error status", config.Faults{ErrorRates: map[int]float64{500: 1}}, chat)
	run("a reset", config.Faults{Reset: always(0, 0)}, stream)
	run("a content filter", config.Faults{ContentFilter: always(0, 0)}, chat)
	run("a cut stream", config.Faults{Cut: always(2, 0)}, stream)
	run("a malformed stream", config.Faults{Malformed: always(2, 0)}, stream)
	run("a cut answer", config.Faults{Cut: always(2, 0)}, chat)
	run("a hang", config.Faults{Hang: always(0, 0)}, func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := s.Chat(ctx, chatReq("x"))
		return err
	})
	run("a stall", config.Faults{Stall: always(2, 0)}, func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := s.Stream(ctx, chatReq("x"))
		if err != nil {
			return err
		}
		_, err = recvTokens(st)
		return err
	})
}
