package sim

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// withFaults returns a test simulator whose chat model always has f.
func withFaults(t testing.TB, f config.Faults) *Sim {
	return newTestSim(t, func(m *config.SimModel) {
		m.Faults = f
		m.OutputTokens = config.Range{Min: 10, Max: 10}
	})
}

func always(after int, delay config.Duration) config.Fault {
	return config.Fault{Rate: 1, AfterTokens: after, Delay: delay}
}

func TestFaultsBeforeAnswer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		faults     config.Faults
		kind       llm.Kind
		status     int
		code       string
		retryAfter time.Duration
	}{
		{"429", config.Faults{ErrorRates: map[int]float64{429: 1}, RetryAfter: config.Duration(3 * time.Second)}, llm.KindRateLimited, 429, "rate_limit_exceeded", 3 * time.Second},
		{"500", config.Faults{ErrorRates: map[int]float64{500: 1}}, llm.KindServer, 500, "", 0},
		{"502", config.Faults{ErrorRates: map[int]float64{502: 1}}, llm.KindServer, 502, "", 0},
		{"503", config.Faults{ErrorRates: map[int]float64{503: 1}, RetryAfter: config.Duration(time.Second)}, llm.KindOverloaded, 503, "", time.Second},
		{"529", config.Faults{ErrorRates: map[int]float64{529: 1}}, llm.KindOverloaded, 529, "", 0},
		{"401", config.Faults{ErrorRates: map[int]float64{401: 1}}, llm.KindAuth, 401, "invalid_api_key", 0},
		{"reset", config.Faults{Reset: always(0, 0)}, llm.KindConnection, 0, "", 0},
		{"content_filter", config.Faults{ContentFilter: always(0, 0)}, llm.KindContentFilter, 400, "content_filter", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withFaults(t, tc.faults)
			check := func(op string, err error) {
				t.Helper()
				e := wantKind(t, err, tc.kind)
				if e.Status != tc.status || e.Code != tc.code || e.RetryAfter != tc.retryAfter || e.Model != chatModel {
					t.Errorf("%s: error = %+v", op, e)
				}
			}
			_, err := s.Chat(t.Context(), chatReq("x"))
			check("chat", err)
			_, err = s.Stream(t.Context(), chatReq("x"))
			check("stream", err)
		})
	}
}

func TestFaultHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := withFaults(t, config.Faults{Hang: always(0, 0)})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := s.Chat(ctx, chatReq("x"))
		wantKind(t, err, llm.KindTimeout)
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("hung for %s, want 5s", d)
		}

		ctx, cancel = context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := s.Stream(ctx, chatReq("x"))
			done <- err
		}()
		synctest.Wait()
		cancel()
		e := wantKind(t, <-done, llm.KindCanceled)
		if !errors.Is(e, context.Canceled) {
			t.Errorf("error %v does not wrap context.Canceled", e)
		}
	})
}

func TestFaultSlowFirstToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := withFaults(t, config.Faults{SlowFirstToken: always(0, ms(2000))})
		start := time.Now()
		if _, err := s.Chat(t.Context(), chatReq("x")); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("answer after %s, want 2s", d)
		}
		start = time.Now()
		st, err := s.Stream(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if time.Since(start) != 0 {
			t.Error("Stream waited for the first token")
		}
		if _, err := st.Recv(); err != nil || time.Since(start) != 2*time.Second {
			t.Errorf("first chunk after %s (%v), want 2s", time.Since(start), err)
		}
		if _, err := st.Recv(); err != nil || time.Since(start) != 2*time.Second {
			t.Errorf("second chunk after %s (%v), want 2s", time.Since(start), err)
		}
	})
}

// recvTokens reads chunks until an error and counts the content chunks.
func recvTokens(st llm.Stream) (tokens int, err error) {
	for {
		c, err := st.Recv()
		if err != nil {
			return tokens, err
		}
		if c.HasContent && c.FinishReason == "" && len(c.Data) > 0 && !isRoleChunk(c.Data) {
			tokens++
		}
	}
}

func isRoleChunk(b []byte) bool { return bytes.Contains(b, []byte(`"role":"assistant"`)) }

func TestFaultsMidStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults config.Faults
		tokens int // content chunks before the error
	}{
		{"cut", config.Faults{Cut: always(4, 0)}, 4},
		{"cut at once", config.Faults{Cut: always(0, 0)}, 0},
		{"cut beyond the end", config.Faults{Cut: always(50, 0)}, 10},
		{"malformed", config.Faults{Malformed: always(6, 0)}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withFaults(t, tc.faults)
			st, err := s.Stream(t.Context(), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			n, err := recvTokens(st)
			e := wantKind(t, err, llm.KindStreamBroken)
			if n != tc.tokens {
				t.Errorf("%d tokens before %v, want %d", n, e, tc.tokens)
			}
			if _, again := st.Recv(); again != err {
				t.Errorf("Recv after the error = %v", again)
			}
		})
	}
	t.Run("plain answers", func(t *testing.T) {
		_, err := withFaults(t, config.Faults{Cut: always(4, 0)}).Chat(t.Context(), chatReq("x"))
		wantKind(t, err, llm.KindConnection)
		_, err = withFaults(t, config.Faults{Malformed: always(4, 0)}).Chat(t.Context(), chatReq("x"))
		if e := wantKind(t, err, llm.KindServer); e.Status != 200 {
			t.Errorf("malformed answer status %d", e.Status)
		}
	})
}

func TestFaultStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := withFaults(t, config.Faults{Stall: always(3, ms(30_000))})
		st, err := s.Stream(t.Context(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var at []time.Duration
		for {
			c, err := st.Recv()
			if err != nil {
				break
			}
			if c.Usage == nil {
				at = append(at, time.Since(start))
			}
		}
		// role, 3 tokens, the stall, 7 tokens, finish.
		if len(at) != 12 || at[3] != 0 || at[4] != 30*time.Second || at[11] != 30*time.Second {
			t.Errorf("chunks at %v", at)
		}
		start = time.Now()
		if _, err := s.Chat(t.Context(), chatReq("x")); err != nil || time.Since(start) != 30*time.Second {
			t.Errorf("plain answer after %s (%v), want 30s", time.Since(start), err)
		}

		// A stall without delay lasts until the caller gives up.
		s = withFaults(t, config.Faults{Stall: always(2, 0)})
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		st, err = s.Stream(ctx, chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := recvTokens(st)
		wantKind(t, err, llm.KindTimeout)
		if n != 2 || time.Since(start) != 30*time.Second+time.Hour {
			t.Errorf("%d tokens, ended after %s", n, time.Since(start))
		}
	})
}

func TestFaultNoDoneInProcess(t *testing.T) {
	s := withFaults(t, config.Faults{NoDone: always(0, 0)})
	st, err := s.Stream(t.Context(), chatReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, st)
	if err != nil || chunks[len(chunks)-1].Usage == nil {
		t.Errorf("stream ended with %v after %d chunks", err, len(chunks))
	}
}

func TestFaultRates(t *testing.T) {
	s := withFaults(t, config.Faults{
		ErrorRates: map[int]float64{500: 0.1, 503: 0.2},
		Reset:      config.Fault{Rate: 0.1},
	})
	counts := map[llm.Kind]int{}
	const n = 20_000
	for range n {
		_, err := s.Chat(t.Context(), chatReq("x"))
		counts[llm.KindOf(err)]++
	}
	for kind, want := range map[llm.Kind]float64{llm.KindServer: 0.1, llm.KindOverloaded: 0.2, llm.KindConnection: 0.1} {
		if got := float64(counts[kind]) / n; got < want-0.015 || got > want+0.015 {
			t.Errorf("%s: share %.3f, want %.2f", kind, got, want)
		}
	}
}

func TestSetFaults(t *testing.T) {
	s := newTestSim(t, nil)
	if _, err := s.Chat(t.Context(), chatReq("x")); err != nil {
		t.Fatal(err)
	}
	f := config.Faults{ErrorRates: map[int]float64{503: 1}, RetryAfter: config.Duration(time.Second)}
	if err := s.SetFaults(chatModel, f); err != nil {
		t.Fatal(err)
	}
	f.ErrorRates[503] = 0 // the simulator holds a copy
	_, err := s.Chat(t.Context(), chatReq("x"))
	wantKind(t, err, llm.KindOverloaded)
	got, err := s.Faults(chatModel)
	if err != nil || got.ErrorRates[503] != 1 || got.RetryAfter != config.Duration(time.Second) {
		t.Errorf("Faults = %+v, %v", got, err)
	}
	if err := s.SetFaults(chatModel, config.Faults{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Chat(t.Context(), chatReq("x")); err != nil {
		t.Errorf("after clearing the faults: %v", err)
	}

	if err := s.SetFaults("nope", config.Faults{}); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("SetFaults of an unknown model: %v", err)
	}
	if _, err := s.Faults("nope"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("Faults of an unknown model: %v", err)
	}
	bad := config.Faults{
		ErrorRates: map[int]float64{200: 0.5, 500: 0.7},
		Cut:        config.Fault{Rate: 2, AfterTokens: -1},
		Stall:      config.Fault{Delay: -1},
	}
	err = s.SetFaults(chatModel, bad)
	if !errors.Is(err, ErrInvalidFaults) {
		t.Fatalf("invalid faults accepted: %v", err)
	}
	for _, want := range []string{"error_rates.200", "add up to 1.2", "cut.rate", "cut.after_tokens", "stall.delay"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestEmbedFaults(t *testing.T) {
	embedWith := func(f config.Faults) *Sim {
		return New("testsim", 1, map[string]config.SimModel{embedModel: {Kind: "embedding", Faults: f}})
	}
	req := &llm.EmbedRequest{Model: embedModel, Input: []string{"x"}}
	for _, tc := range []struct {
		faults config.Faults
		kind   llm.Kind
	}{
		{config.Faults{ErrorRates: map[int]float64{503: 1}}, llm.KindOverloaded},
		{config.Faults{Reset: always(0, 0)}, llm.KindConnection},
		{config.Faults{ContentFilter: always(0, 0)}, llm.KindContentFilter},
		{config.Faults{Cut: always(0, 0)}, llm.KindConnection},
		{config.Faults{Malformed: always(0, 0)}, llm.KindServer},
	} {
		_, err := embedWith(tc.faults).Embed(t.Context(), req)
		wantKind(t, err, tc.kind)
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if _, err := embedWith(config.Faults{SlowFirstToken: always(0, ms(700))}).Embed(t.Context(), req); err != nil || time.Since(start) != 700*time.Millisecond {
			t.Errorf("slow embedding after %s (%v)", time.Since(start), err)
		}
	})
}
