package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// transcript runs a fixed sequence of calls against a simulator built with
// seed, with random latencies and every kind of fault, and writes down
// everything observable: bodies, chunks, errors and when each happened.
func transcript(t *testing.T, seed int64) string {
	var out strings.Builder
	synctest.Test(t, func(t *testing.T) {
		s := New("testsim", seed, map[string]config.SimModel{
			chatModel: {
				TTFT:         config.Latency{P50: ms(80), P99: ms(300)},
				ITL:          config.Latency{P50: ms(8), P99: ms(30)},
				OutputTokens: config.Range{Min: 4, Max: 12},
				Faults: config.Faults{
					ErrorRates:     map[int]float64{429: 0.05, 500: 0.05},
					RetryAfter:     config.Duration(time.Second),
					Reset:          config.Fault{Rate: 0.05},
					SlowFirstToken: config.Fault{Rate: 0.1, Delay: ms(500)},
					Cut:            config.Fault{Rate: 0.1, AfterTokens: 3},
					Stall:          config.Fault{Rate: 0.1, AfterTokens: 2, Delay: ms(1000)},
					Malformed:      config.Fault{Rate: 0.05, AfterTokens: 1},
				},
			},
			embedModel: {Kind: "embedding", Dimensions: 16, TTFT: config.Latency{P50: ms(10), P99: ms(40)}},
		})
		ctx := t.Context()
		start := time.Now()
		for i := range 60 {
			req := chatReq(fmt.Sprintf("question %d", i%7))
			fmt.Fprintf(&out, "%d @%s ", i, time.Since(start))
			switch i % 3 {
			case 0:
				resp, err := s.Chat(ctx, req)
				if err != nil {
					fmt.Fprintf(&out, "chat error %v\n", err)
					continue
				}
				fmt.Fprintf(&out, "chat %s %v\n", resp.Body, resp.Usage)
			case 1:
				st, err := s.Stream(ctx, req)
				if err != nil {
					fmt.Fprintf(&out, "stream error %v\n", err)
					continue
				}
				for {
					c, err := st.Recv()
					if err != nil {
						fmt.Fprintf(&out, "end %v @%s\n", err, time.Since(start))
						break
					}
					fmt.Fprintf(&out, "chunk @%s %s\n", time.Since(start), c.Data)
				}
				st.Close()
			case 2:
				resp, err := s.Embed(ctx, &llm.EmbedRequest{Model: embedModel, Input: []string{req.Messages[0].Content}})
				if err != nil {
					fmt.Fprintf(&out, "embed error %v\n", err)
					continue
				}
				fmt.Fprintf(&out, "embed %v\n", resp.Vectors)
			}
		}
	})
	return out.String()
}

func TestDeterminism(t *testing.T) {
	a, b := transcript(t, 7), transcript(t, 7)
	if a != b {
		al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
		for i := range min(len(al), len(bl)) {
			if al[i] != bl[i] {
				t.Fatalf("same seed, different runs at line %d:\n%s\n%s", i, al[i], bl[i])
			}
		}
		t.Fatalf("same seed, different runs: %d and %d lines", len(al), len(bl))
	}
	// The scenario exercises what it claims to.
	for _, want := range []string{"rate_limited", "server_error", "connection", "stream_broken", "chunk", "embed ["} {
		if !strings.Contains(a, want) {
			t.Errorf("the transcript has no %q", want)
		}
	}
	if c := transcript(t, 8); c == a {
		t.Error("another seed, the same run")
	}
}

func TestDeterminismConcurrent(t *testing.T) {
	// Concurrent callers get draws in arrival order: whatever the
	// interleaving, the multiset of outcomes is the same.
	outcomes := func() []string {
		s := New("testsim", 3, map[string]config.SimModel{chatModel: {
			Faults: config.Faults{ErrorRates: map[int]float64{500: 0.3}},
		}})
		res := make(chan string, 200)
		for range 200 {
			go func() {
				_, err := s.Chat(context.Background(), chatReq("same"))
				res <- llm.KindOf(err).String()
			}()
		}
		var out []string
		for range 200 {
			out = append(out, <-res)
		}
		slices.Sort(out)
		return out
	}
	if a, b := outcomes(), outcomes(); !slices.Equal(a, b) {
		t.Error("the same seed drew different faults")
	}
}
