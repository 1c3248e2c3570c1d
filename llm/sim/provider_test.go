package sim

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

func TestChat(t *testing.T) {
	s := newTestSim(t, nil)
	resp, err := s.Chat(t.Context(), chatReq("Tell me about gateways."))
	if err != nil {
		t.Fatal(err)
	}
	c := parseCompletion(t, resp.Body)
	if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Model != chatModel || c.Created == 0 {
		t.Errorf("head = %+v", c)
	}
	if len(c.Choices) != 1 || c.Choices[0].Message.Role != "assistant" || *c.Choices[0].FinishReason != "stop" {
		t.Fatalf("choices = %+v", c.Choices)
	}
	content := c.Choices[0].Message.Content
	words := strings.Fields(content)
	if n := len(words); n < 8 || n > 16 {
		t.Errorf("%d words, want 8 to 16: %q", n, content)
	}
	if !strings.HasSuffix(content, ".") {
		t.Errorf("an answer that stopped should end a sentence: %q", content)
	}
	if resp.Model != chatModel || len(resp.FinishReasons) != 1 || resp.FinishReasons[0] != "stop" {
		t.Errorf("response = %+v", resp)
	}
	want := llm.Usage{PromptTokens: 3 + 4 + textTokens("Tell me about gateways."), CompletionTokens: len(words)}
	want.TotalTokens = want.PromptTokens + want.CompletionTokens
	if resp.Usage != want || *c.Usage != want {
		t.Errorf("usage = %+v and %+v, want %+v", resp.Usage, *c.Usage, want)
	}
}

func TestChatMaxTokensAndChoices(t *testing.T) {
	s := newTestSim(t, nil)
	req := chatReq("hello")
	req.MaxTokens, req.N = 3, 3
	resp, err := s.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCompletion(t, resp.Body)
	if len(c.Choices) != 3 {
		t.Fatalf("%d choices, want 3", len(c.Choices))
	}
	for i, ch := range c.Choices {
		if ch.Index != i || *ch.FinishReason != "length" || len(strings.Fields(ch.Message.Content)) != 3 {
			t.Errorf("choice %d = %+v", i, ch)
		}
	}
	if resp.Usage.CompletionTokens != 9 || strings.Join(resp.FinishReasons, ",") != "length,length,length" {
		t.Errorf("usage %+v, finish reasons %v", resp.Usage, resp.FinishReasons)
	}
	// Choice 0 of n is the answer of n = 1.
	req.N = 1
	one, err := s.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseCompletion(t, one.Body).Choices[0].Message.Content; got != c.Choices[0].Message.Content {
		t.Errorf("n=1 answer %q, choice 0 of n=3 %q", got, c.Choices[0].Message.Content)
	}
}

func TestSamePromptSameAnswer(t *testing.T) {
	a, b := newTestSim(t, nil), newTestSim(t, nil)
	answer := func(s *Sim, text string, seed *int64) string {
		req := chatReq(text)
		req.Seed = seed
		resp, err := s.Chat(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return parseCompletion(t, resp.Body).Choices[0].Message.Content
	}
	first := answer(a, "What is a circuit breaker?", nil)
	if again := answer(a, "What is a circuit breaker?", nil); again != first {
		t.Errorf("same prompt, another answer:\n%q\n%q", first, again)
	}
	if other := answer(b, "What is a circuit breaker?", nil); other != first {
		t.Errorf("same seed, another answer:\n%q\n%q", first, other)
	}
	if other := answer(a, "What is a retry budget?", nil); other == first {
		t.Errorf("another prompt, same answer %q", first)
	}
	seed := int64(7)
	if seeded := answer(a, "What is a circuit breaker?", &seed); seeded == first {
		t.Errorf("the request seed does not change the answer")
	}
	other := New("testsim", 43, map[string]config.SimModel{chatModel: {}})
	if o := answer(other, "What is a circuit breaker?", nil); o == first {
		t.Errorf("another simulator seed, same answer")
	}
}

func TestStream(t *testing.T) {
	s := newTestSim(t, nil)
	st, err := s.Stream(t.Context(), chatReq("stream me"))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 4 {
		t.Fatalf("%d chunks", len(chunks))
	}
	first := parseCompletion(t, chunks[0].Data)
	if first.Object != "chat.completion.chunk" || *first.Choices[0].Delta.Role != "assistant" || !chunks[0].HasContent {
		t.Errorf("first chunk = %s", chunks[0].Data)
	}
	last := chunks[len(chunks)-1]
	if last.Usage == nil || last.HasContent || len(parseCompletion(t, last.Data).Choices) != 0 {
		t.Errorf("last chunk = %s (%+v)", last.Data, last)
	}
	fin := chunks[len(chunks)-2]
	if fin.FinishReason != "stop" || !fin.HasContent {
		t.Errorf("finish chunk = %s", fin.Data)
	}
	tokens := 0
	for _, c := range chunks[1 : len(chunks)-2] {
		if c.Usage != nil || c.FinishReason != "" || c.Model != chatModel {
			t.Errorf("content chunk = %+v", c)
		}
		tokens++
	}
	if last.Usage.CompletionTokens != tokens {
		t.Errorf("usage says %d tokens, %d content chunks", last.Usage.CompletionTokens, tokens)
	}
	// The streamed text is the plain answer's.
	resp, err := s.Chat(t.Context(), chatReq("stream me"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := streamContent(t, chunkData(chunks)), parseCompletion(t, resp.Body).Choices[0].Message.Content; got != want {
		t.Errorf("streamed %q, answered %q", got, want)
	}
}

func TestStreamChoices(t *testing.T) {
	s := newTestSim(t, func(m *config.SimModel) { m.OutputTokens = config.Range{Min: 2, Max: 9} })
	req := chatReq("several")
	req.N = 4
	st, err := s.Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, st)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := parseCompletion(t, plain.Body)
	got := make([]strings.Builder, 4)
	finished := make([]int, 4)
	for _, c := range chunks {
		for _, ch := range parseCompletion(t, c.Data).Choices {
			if ch.Delta.Content != nil {
				got[ch.Index].WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finished[ch.Index]++
			}
		}
	}
	for i := range 4 {
		if got[i].String() != want.Choices[i].Message.Content || finished[i] != 1 {
			t.Errorf("choice %d: streamed %q (%d finishes), answered %q", i, got[i].String(), finished[i], want.Choices[i].Message.Content)
		}
	}
}

func TestModelErrors(t *testing.T) {
	s := newTestSim(t, nil)
	ctx := t.Context()
	_, err := s.Chat(ctx, &llm.ChatRequest{Model: "nope", Messages: []llm.Message{{Role: "user", Content: "x"}}})
	if e := wantKind(t, err, llm.KindNotFound); e.Code != "model_not_found" || e.Status != 404 || e.Model != "nope" {
		t.Errorf("unknown model: %+v", e)
	}
	_, err = s.Chat(ctx, &llm.ChatRequest{Model: embedModel, Messages: []llm.Message{{Role: "user", Content: "x"}}})
	wantKind(t, err, llm.KindBadRequest)
	_, err = s.Stream(ctx, &llm.ChatRequest{Model: embedModel, Messages: []llm.Message{{Role: "user", Content: "x"}}})
	wantKind(t, err, llm.KindBadRequest)
	_, err = s.Embed(ctx, &llm.EmbedRequest{Model: chatModel, Input: []string{"x"}})
	wantKind(t, err, llm.KindBadRequest)
	_, err = s.Embed(ctx, &llm.EmbedRequest{Model: "nope", Input: []string{"x"}})
	wantKind(t, err, llm.KindNotFound)
	_, err = s.Chat(ctx, &llm.ChatRequest{Model: chatModel})
	wantKind(t, err, llm.KindBadRequest)
	_, err = s.Embed(ctx, &llm.EmbedRequest{Model: embedModel, Input: []string{"x"}, Dimensions: 65})
	wantKind(t, err, llm.KindBadRequest)
}

func TestContextWindow(t *testing.T) {
	s := newTestSim(t, func(m *config.SimModel) { m.ContextWindow = 100 })
	long := strings.Repeat("word ", 100) // 125 tokens
	_, err := s.Chat(t.Context(), chatReq(long))
	e := wantKind(t, err, llm.KindContextLength)
	if e.Status != 400 || e.Code != "context_length_exceeded" || e.Param != "messages" || !strings.Contains(e.Message, "maximum context length is 100 tokens") {
		t.Errorf("error = %+v", e)
	}
	// The prompt fits but not with max_tokens.
	req := chatReq(strings.Repeat("x", 200)) // 57 prompt tokens
	req.MaxTokens = 50
	_, err = s.Chat(t.Context(), req)
	if e := wantKind(t, err, llm.KindContextLength); !strings.Contains(e.Message, "(57 in the messages, 50 in the completion)") {
		t.Errorf("message = %q", e.Message)
	}
	// Without max_tokens the answer is cut to what is left.
	s = newTestSim(t, func(m *config.SimModel) {
		m.ContextWindow = 60
		m.OutputTokens = config.Range{Min: 20, Max: 20}
	})
	resp, err := s.Chat(t.Context(), chatReq(strings.Repeat("x", 200)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens != 3 || resp.FinishReasons[0] != "length" {
		t.Errorf("usage %+v, finish %v", resp.Usage, resp.FinishReasons)
	}
	_, err = s.Embed(t.Context(), &llm.EmbedRequest{Model: embedModel, Input: []string{strings.Repeat("y", 4*600)}})
	if e := wantKind(t, err, llm.KindContextLength); e.Param != "input" {
		t.Errorf("embed error = %+v", e)
	}
}

func TestLatencyFit(t *testing.T) {
	l := newLatency(config.Latency{P50: ms(80), P99: ms(300)})
	r := newRand(1)
	const n = 200_000
	below50, below99 := 0, 0
	for range n {
		d := l.draw(r)
		if d <= 80*time.Millisecond {
			below50++
		}
		if d <= 300*time.Millisecond {
			below99++
		}
	}
	if p := float64(below50) / n; p < 0.49 || p > 0.51 {
		t.Errorf("%.4f of draws at or below P50", p)
	}
	if p := float64(below99) / n; p < 0.988 || p > 0.992 {
		t.Errorf("%.4f of draws at or below P99", p)
	}
	if d := newLatency(config.Latency{P50: ms(5)}).draw(r); d != 5*time.Millisecond {
		t.Errorf("fixed latency drew %s", d)
	}
	if d := newLatency(config.Latency{}).draw(r); d != 0 {
		t.Errorf("zero latency drew %s", d)
	}
}

func TestPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSim(t, func(m *config.SimModel) {
			m.TTFT, m.ITL = fixed(ms(100)), fixed(ms(10))
			m.OutputTokens = config.Range{Min: 5, Max: 5}
		})
		start := time.Now()
		if _, err := s.Chat(t.Context(), chatReq("pace")); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 140*time.Millisecond {
			t.Errorf("plain answer took %s, want 140ms", got)
		}
		start = time.Now()
		st, err := s.Stream(t.Context(), chatReq("pace"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var at []time.Duration
		for {
			_, err := st.Recv()
			if err != nil {
				break
			}
			at = append(at, time.Since(start))
		}
		want := []time.Duration{100, 100, 110, 120, 130, 140, 140, 140} // role, 5 tokens, finish, usage
		for i := range want {
			want[i] *= time.Millisecond
		}
		if len(at) != len(want) {
			t.Fatalf("chunks at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("chunks at %v, want %v", at, want)
			}
		}
	})
}

func TestStreamContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSim(t, func(m *config.SimModel) { m.ITL = fixed(ms(1000)) })
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		st, err := s.Stream(ctx, chatReq("slow"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = drain(t, st)
		wantKind(t, err, llm.KindTimeout)

		st, err = s.Stream(t.Context(), chatReq("closed"))
		if err != nil {
			t.Fatal(err)
		}
		st.Recv()
		st.Close()
		_, err = st.Recv()
		wantKind(t, err, llm.KindCanceled)
	})
}
