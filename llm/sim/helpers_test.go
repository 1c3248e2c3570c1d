package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

const (
	chatModel  = "chat"
	embedModel = "embed"
)

func ms(n int) config.Duration { return config.Duration(time.Duration(n) * time.Millisecond) }

func fixed(d config.Duration) config.Latency { return config.Latency{P50: d} }

// newTestSim returns a simulator with a fast chat model (changed by chat, if
// given) and an embedding model.
func newTestSim(t testing.TB, chat func(*config.SimModel)) *Sim {
	t.Helper()
	c := config.SimModel{Kind: "chat", OutputTokens: config.Range{Min: 8, Max: 16}, ContextWindow: 4096}
	if chat != nil {
		chat(&c)
	}
	return New("testsim", 42, map[string]config.SimModel{
		chatModel:  c,
		embedModel: {Kind: "embedding", Dimensions: 64, ContextWindow: 512},
	})
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func chatReq(text string) *llm.ChatRequest {
	return &llm.ChatRequest{Model: chatModel, Messages: []llm.Message{{Role: "user", Content: text}}}
}

// completion is the part of a chat.completion the tests read.
type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *llm.Usage `json:"usage"`
}

func parseCompletion(t testing.TB, b []byte) completion {
	t.Helper()
	var c completion
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, b)
	}
	return c
}

// kindOfErr asserts that err is an *llm.Error and returns it.
func asLLMError(t testing.TB, err error) *llm.Error {
	t.Helper()
	e, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	if e.Provider != "testsim" {
		t.Errorf("error provider = %q, want testsim", e.Provider)
	}
	return e
}

func wantKind(t testing.TB, err error, k llm.Kind) *llm.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", k)
	}
	e := asLLMError(t, err)
	if e.Kind != k {
		t.Fatalf("error kind = %s, want %s: %v", e.Kind, k, err)
	}
	return e
}

// drain reads an in-process stream to its end.
func drain(t testing.TB, s llm.Stream) (chunks []*llm.Chunk, err error) {
	t.Helper()
	defer s.Close()
	for {
		c, err := s.Recv()
		if err != nil {
			if err == io.EOF {
				return chunks, nil
			}
			return chunks, err
		}
		chunks = append(chunks, c)
	}
}

// streamContent joins the content of chunks.
func streamContent(t testing.TB, data [][]byte) string {
	t.Helper()
	var sb strings.Builder
	for _, d := range data {
		c := parseCompletion(t, d)
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				sb.WriteString(*ch.Delta.Content)
			}
		}
	}
	return sb.String()
}

func chunkData(chunks []*llm.Chunk) [][]byte {
	out := make([][]byte, len(chunks))
	for i, c := range chunks {
		out[i] = c.Data
	}
	return out
}

// post sends body as JSON and returns the response with its body read.
func post(t testing.TB, client *http.Client, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", url, err)
	}
	return resp, b
}

// openAIError is OpenAI's error body.
type openAIError struct {
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// wantAPIError checks an error answer: its status and OpenAI's format, and
// returns the code ("" for null).
func wantAPIError(t testing.TB, resp *http.Response, body []byte, status int) (code, param string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var e openAIError
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("error body is not OpenAI's format: %v: %s", err, body)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("error body lacks message or type: %s", body)
	}
	if !bytes.Contains(body, []byte(`"param":`)) || !bytes.Contains(body, []byte(`"code":`)) {
		t.Errorf("error body lacks param or code: %s", body)
	}
	if e.Error.Code != nil {
		code = *e.Error.Code
	}
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	return code, param
}

// sseEvent is one server-sent event's data, with when it was read.
type sseEvent struct {
	data string
	at   time.Time
}

// readSSE reads a stream's events until its end; err is the read error
// that ended it (nil on a clean end).
func readSSE(r io.Reader) (events []sseEvent, err error) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" {
				return events, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return events, err
		}
		line = strings.TrimRight(line, "\n")
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			events = append(events, sseEvent{data: d, at: time.Now()})
		}
	}
}

// pipeNet is an in-memory network for tests inside a synctest bubble,
// where loopback sockets would keep the bubble from going idle.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	srv   *http.Server
	serve chan error
}

// newPipeNet serves h on an in-memory network and returns a client for it.
// Call stop before the bubble ends.
func newPipeNet(h http.Handler) (*pipeNet, *http.Client) {
	p := &pipeNet{conns: make(chan net.Conn), done: make(chan struct{}), serve: make(chan error, 1)}
	p.srv = &http.Server{Handler: h}
	go func() { p.serve <- p.srv.Serve(p) }()
	client := &http.Client{Transport: &http.Transport{DialContext: p.dial}}
	return p, client
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (p *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeNet) stop(client *http.Client) {
	client.CloseIdleConnections()
	p.srv.Close()
	<-p.serve
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
