package gateway

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/reqlog"
)

// RequestLog receives one record per client request. reqlog.Writer
// implements it; Add must not block.
type RequestLog interface {
	Add(reqlog.Record)
}

// requestLog is where a Gateway's request log records go, and how much
// text each keeps.
type requestLog struct {
	sink RequestLog
	// capture is the limit in bytes of the captured prompt and completion
	// (reqlog.WriterOptions.MaxContentBytes); 0 captures no content.
	capture int
}

// SetRequestLog sets where request log records go (nil: nowhere) and,
// when captureBytes is above zero, has each record carry the prompt
// messages and the completion text, each clipped to captureBytes plus
// reqlog.Margin (the sink masks and cuts them). It is meant to be called
// once, before serving.
func (g *Gateway) SetRequestLog(l RequestLog, captureBytes int) {
	if l == nil {
		g.reqlog = nil
		return
	}
	g.reqlog = &requestLog{sink: l, capture: max(captureBytes, 0)}
}

// capture is the text a request log record keeps of one chat request:
// its messages, and its answer's text as it arrives. It exists only when
// content capture is on, so that a stream's chunks are parsed for their
// text only then. It is used by one goroutine at a time.
type capture struct {
	limit    int // reqlog.Margin above the capture limit
	messages []llm.Message
	text     []byte // a stream's first choice so far, up to limit
	full     bool   // text reached limit
}

// keep notes the chat request a client request serves: whether it
// streams and, when content is captured, its messages. Chat and Stream
// call it once, right after begin.
func (rq *request) keep(req *llm.ChatRequest, stream bool) {
	rq.stream = stream
	if rl := rq.g.reqlog; rl != nil && rl.capture > 0 {
		rq.capture = &capture{limit: rl.capture + reqlog.Margin, messages: req.Messages}
	}
}

// chunk appends the first choice's text in a stream's chunk.
func (c *capture) chunk(ch *llm.Chunk) {
	if !ch.HasContent || c.full {
		return
	}
	var v struct {
		Choices []struct {
			Index int `json:"index"`
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(ch.Data, &v) != nil {
		return
	}
	for _, x := range v.Choices {
		if x.Index != 0 {
			continue
		}
		part := x.Delta.Content
		if room := c.limit - len(c.text); len(part) > room {
			part = part[:room]
			for len(part) > 0 && !utf8.ValidString(part) { // never half a rune
				part = part[:len(part)-1]
			}
			c.text, c.full = append(c.text, part...), true
			return
		}
		c.text = append(c.text, part...)
	}
}

// completionText returns the first choice's text of a chat completion
// body, "" when it has none.
func completionText(body []byte) string {
	var v struct {
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if len(body) == 0 || json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, x := range v.Choices {
		if x.Index == 0 {
			return x.Message.Content
		}
	}
	return ""
}

// content returns what the capture kept, clipped; body is a non-streaming
// answer's.
func (c *capture) content(body []byte) *reqlog.Content {
	out := &reqlog.Content{Messages: make([]reqlog.Message, 0, len(c.messages))}
	left := c.limit
	for _, m := range c.messages {
		if left <= 0 {
			out.Truncated = true
			break
		}
		text, cut := reqlog.Clip(m.Content, left)
		left -= len(text)
		out.Messages = append(out.Messages, reqlog.Message{Role: m.Role, Content: text})
		out.Truncated = out.Truncated || cut
	}
	if body != nil {
		var cut bool
		out.Completion, cut = reqlog.Clip(completionText(body), c.limit)
		out.Truncated = out.Truncated || cut
	} else {
		out.Completion = string(c.text)
		out.Truncated = out.Truncated || c.full
	}
	return out
}

// logRequest writes the request log record of a finished request: done
// is what end worked out about it.
func (rq *request) logRequest(out *Outcome, ans answer, done *requestRecord) {
	rl := rq.g.reqlog
	if rl == nil {
		return
	}
	r := reqlog.Record{
		Time:             rq.start,
		RequestID:        rq.requestID,
		TenantID:         rq.tenant,
		KeyID:            rq.keyID,
		Alias:            rq.alias,
		Target:           done.target,
		Operation:        rq.op,
		Stream:           rq.stream,
		Status:           done.status,
		ErrorType:        done.errorType,
		Latency:          done.duration,
		Overhead:         max(done.duration-done.upstream, 0),
		TimeToFirstToken: ans.firstToken,
		PromptTokens:     int64(max(ans.input, 0)),
		CompletionTokens: int64(max(ans.output, 0)),
	}
	if q := rq.quota; q != nil && q.counted { // what the usage record bills (quota.go)
		r.PromptTokens, r.CompletionTokens = int64(q.usage.PromptTokens), int64(q.usage.CompletionTokens)
		r.UsageCounted = true
	}
	if len(ans.finish) > 0 {
		r.FinishReason = ans.finish[0]
	}
	if len(out.Tried) > 0 {
		r.Attempts = make([]reqlog.Attempt, len(out.Tried))
		for i, a := range out.Tried {
			la := reqlog.Attempt{Target: a.Target, Status: a.Status, Duration: a.Duration, Hedge: a.Hedge, Continues: a.Continues}
			if a.Err != nil {
				la.ErrorKind, la.Break = a.Kind.String(), a.Err.Break.String()
			}
			r.Attempts[i] = la
		}
	}
	if c := rq.capture; c != nil {
		r.Content = c.content(ans.body)
	}
	r.Tools = out.Tools.record()                   // tools.go
	r.Guardrails = guardrailRecord(out.Guardrails) // guard.go
	rl.sink.Add(r)
}

// requestRecord is what end worked out about a finished request, for the
// request log and the access log summary.
type requestRecord struct {
	target    string
	status    int
	errorType string
	duration  time.Duration
	upstream  time.Duration
}

// targetName is the provider/model that answered, or the last one tried;
// "" when none was.
func (o *Outcome) targetName() string {
	if o.Target != nil {
		return o.Target.Name()
	}
	if n := len(o.Tried); n > 0 {
		return o.Tried[n-1].Target
	}
	return ""
}

// Summary is what the gateway says about a finished client request, for
// the API edge's access log. The API edge puts an empty one in the
// request's context (WithSummary) and reads it once the handler returned;
// the gateway fills it in when the request ends (for a stream: at its end
// or Close). It is for logging only: nothing reads it to decide anything.
type Summary struct {
	// Ended is set once the gateway filled the summary in.
	Ended bool
	// Alias is the route that served the request; Target the
	// provider/model that answered, or the last one tried.
	Alias, Target string
	Attempts      int
	// Upstream is the time spent waiting for upstreams (for a stream,
	// until its end).
	Upstream                  time.Duration
	InputTokens, OutputTokens int
	// ErrorType is the failure's kind; empty on success.
	ErrorType string
}

type summaryKey struct{}

// WithSummary returns ctx carrying s, for the gateway to fill in.
func WithSummary(ctx context.Context, s *Summary) context.Context {
	return context.WithValue(ctx, summaryKey{}, s)
}

func summaryOf(ctx context.Context) *Summary {
	s, _ := ctx.Value(summaryKey{}).(*Summary)
	return s
}

// summarize fills in the summary the API edge put in ctx, if any.
func (rq *request) summarize(ctx context.Context, out *Outcome, ans answer, done *requestRecord) {
	s := summaryOf(ctx)
	if s == nil {
		return
	}
	s.Ended = true
	s.Alias, s.Target, s.Attempts = rq.alias, done.target, out.Attempts
	s.Upstream = done.upstream
	s.InputTokens, s.OutputTokens = ans.input, ans.output
	s.ErrorType = done.errorType
}
