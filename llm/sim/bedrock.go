package sim

// Amazon Bedrock's runtime API, so that the Bedrock provider (llm/bedrock)
// runs its conformance suite offline:
//
//	POST /model/{modelId}/converse          Converse (JSON)
//	POST /model/{modelId}/converse-stream   ConverseStream (application/vnd.amazon.eventstream)
//	POST /model/{modelId}/invoke            InvokeModel, embedding models only, in
//	                                        Titan's {inputText, dimensions} or Cohere's
//	                                        {texts, input_type} form (told apart by the body)
//
// The models behave exactly as over the OpenAI endpoints: the same calls
// (chatCall, embedCall, admit, refusal), the same words, latencies and
// embeddings. Only the wire form differs. Any SigV4 Authorization header is
// accepted and not verified. Errors come in Bedrock's restjson form (the
// X-Amzn-ErrorType header and a {"message"} body) with its exception names:
// 429 ThrottlingException (with Retry-After when the fault sets one), over
// capacity 503 ServiceUnavailableException, 500 InternalServerException,
// an unknown model 404 ResourceNotFoundException, a prompt beyond the
// context window 400 ValidationException "Input is too long for requested
// model…". The content_filter fault is a 200 that stops with
// "content_filtered" before any output, as a model that refuses does. In a
// stream, error_event is a modelStreamErrorException message, malformed an
// event frame whose checksum does not match (the stream ends there), cut
// and stall as over SSE; no_done changes nothing (an event stream has no
// end marker). A toolConfig whose toolChoice is "any" or "tool" is
// answered with a toolUse block for that tool (the first one for "any"),
// its input built from the tool's JSON schema; otherwise answers are text.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream/eventstreamapi"

	"github.com/bulwark-ai/bulwark/llm"
)

// bedrockRequest is the part of a Converse request body the simulator reads.
type bedrockRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []bedrockBlock `json:"content"`
	} `json:"messages"`
	System []struct {
		Text string `json:"text"`
	} `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec *struct {
				Name        string `json:"name"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice *struct {
			Auto *struct{} `json:"auto"`
			Any  *struct{} `json:"any"`
			Tool *struct {
				Name string `json:"name"`
			} `json:"tool"`
		} `json:"toolChoice"`
	} `json:"toolConfig"`
}

// bedrockBlock is one content block of a message; what counts for the
// prompt is its text.
type bedrockBlock struct {
	Text    *string `json:"text"`
	ToolUse *struct {
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"toolUse"`
	ToolResult *struct {
		Content []struct {
			Text *string         `json:"text"`
			JSON json.RawMessage `json:"json"`
		} `json:"content"`
	} `json:"toolResult"`
}

// bedrockTool is the tool a request forces: its answer is a call of it.
type bedrockTool struct {
	name   string
	schema json.RawMessage
}

// decodeConverse decodes a Converse request body into the request chatCall
// takes, and the tool it forces (nil for none). Errors are 400s.
func decodeConverse(model string, body []byte) (*llm.ChatRequest, *bedrockTool, *llm.Error) {
	var w bedrockRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, nil, invalid("", "", "Malformed input request: %v, please reformat your input and try again.", err)
	}
	req := &llm.ChatRequest{Model: model, Body: body, IncludeUsage: true}
	for _, s := range w.System {
		req.Messages = append(req.Messages, llm.Message{Role: "system", Content: s.Text})
	}
	for i, m := range w.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, nil, invalid("", "", "Invalid value at 'messages.%d.role': %q is not one of user, assistant.", i+1, m.Role)
		}
		var text strings.Builder
		for _, b := range m.Content {
			switch {
			case b.Text != nil:
				text.WriteString(*b.Text)
			case b.ToolUse != nil:
				text.WriteString(b.ToolUse.Name)
				text.Write(b.ToolUse.Input)
			case b.ToolResult != nil:
				for _, c := range b.ToolResult.Content {
					if c.Text != nil {
						text.WriteString(*c.Text)
					}
					text.Write(c.JSON)
				}
			}
		}
		req.Messages = append(req.Messages, llm.Message{Role: m.Role, Content: text.String()})
	}
	if len(w.Messages) == 0 {
		return nil, nil, invalid("", "", "A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	if ic := w.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			if *ic.MaxTokens < 1 {
				return nil, nil, invalid("", "", "1 validation error detected: Value '%d' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1", *ic.MaxTokens)
			}
			req.MaxTokens = *ic.MaxTokens
		}
		req.Stop = ic.StopSequences
	}
	var tool *bedrockTool
	if tc := w.ToolConfig; tc != nil && tc.ToolChoice != nil && (tc.ToolChoice.Any != nil || tc.ToolChoice.Tool != nil) {
		for _, t := range tc.Tools {
			if t.ToolSpec == nil {
				continue
			}
			if tc.ToolChoice.Any != nil || t.ToolSpec.Name == tc.ToolChoice.Tool.Name {
				tool = &bedrockTool{name: t.ToolSpec.Name, schema: t.ToolSpec.InputSchema.JSON}
				break
			}
		}
		if tool == nil {
			return nil, nil, invalid("", "", "The tool that toolChoice names is not one of toolConfig.tools.")
		}
	}
	if e := checkChat(req); e != nil {
		return nil, nil, e
	}
	return req, tool, nil
}

// serveConverse answers POST /model/{model}/converse.
func (s *Sim) serveConverse(w http.ResponseWriter, r *http.Request) {
	c, tool, ok := s.converseCall(w, r)
	if !ok {
		return
	}
	defer c.release()
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	ch := &c.choices[0]
	stop := bedrockStop(ch.finish, tool)
	b := append(make([]byte, 0, c.completionSize()), `{"output":{"message":{"role":"assistant","content":[`...)
	switch {
	case c.fault.kind == faultContentFilter:
		stop = "content_filtered"
	case tool != nil:
		b = append(b, `{"toolUse":{"toolUseId":"`...)
		b = appendToolUseID(b, c)
		b = append(b, `","name":`...)
		b = appendJSONString(b, tool.name)
		b = append(b, `,"input":`...)
		b = append(b, toolInput(c, tool)...)
		b = append(b, `}}`...)
	default:
		b = append(b, `{"text":"`...)
		for t := range ch.length {
			b = ch.words.next(b, t == ch.length-1 && ch.finish == "stop")
		}
		b = append(b, `"}`...)
	}
	b = append(b, `]}},"stopReason":"`...)
	b = append(b, stop...)
	b = append(b, `","usage":`...)
	b = appendBedrockUsage(b, c.bedrockUsage())
	b = append(b, `,"metrics":{"latencyMs":`...)
	b = strconv.AppendInt(b, c.answerLatency().Milliseconds(), 10)
	b = append(b, `}}`...)
	w.Header().Set("X-Amzn-Requestid", requestID(c))
	answerHTTP(w, c, b)
}

// serveConverseStream answers POST /model/{model}/converse-stream.
func (s *Sim) serveConverseStream(w http.ResponseWriter, r *http.Request) {
	c, tool, ok := s.converseCall(w, r)
	if !ok {
		return
	}
	defer c.release()
	s.streamBedrock(w, r, c, tool)
}

// converseCall decodes a Converse request and admits its call. It reports
// whether the answer may go on; when it does the caller must release c.
func (s *Sim) converseCall(w http.ResponseWriter, r *http.Request) (*call, *bedrockTool, bool) {
	body, e := readBody(w, r)
	if e != nil {
		writeBedrockError(w, e)
		return nil, nil, false
	}
	req, tool, e := decodeConverse(r.PathValue("model"), body)
	if e != nil {
		writeBedrockError(w, e)
		return nil, nil, false
	}
	c, e := s.chatCall(req)
	if e != nil {
		writeBedrockError(w, e)
		return nil, nil, false
	}
	return c, tool, s.startBedrock(w, r, c)
}

// startBedrock is startHTTP with Bedrock's errors: it admits c and applies
// the faults that answer before any output. The content filter is not one
// of them: its answer is a 200 that stops with content_filtered. When it
// returns true the caller must release c.
func (s *Sim) startBedrock(w http.ResponseWriter, r *http.Request, c *call) bool {
	if e := c.admit(r.Context()); e != nil {
		if e.Status != 0 { // else the client left while queued
			writeBedrockError(w, e)
		}
		return false
	}
	switch c.fault.kind {
	case faultReset:
		c.release()
		resetConnection(w)
		return false
	case faultHang:
		<-r.Context().Done()
		c.release()
		return false
	case faultContentFilter:
		if !c.m.embed {
			return true
		}
	}
	if e := c.refusal(); e != nil {
		c.release()
		writeBedrockError(w, e)
		return false
	}
	return true
}

// bedrockStop is the stopReason of an answer that finished with finish.
func bedrockStop(finish string, tool *bedrockTool) string {
	switch {
	case finish == "length":
		return "max_tokens"
	case tool != nil:
		return "tool_use"
	}
	return "end_turn"
}

// bedrockUsage is the usage Bedrock reports: a content-filtered answer has
// no output.
func (c *call) bedrockUsage() llm.Usage {
	u := c.usage()
	if c.fault.kind == faultContentFilter {
		u.CompletionTokens, u.TotalTokens = 0, u.PromptTokens
	}
	return u
}

// answerLatency is the latency a plain answer reports (its metrics).
func (c *call) answerLatency() time.Duration {
	return min(c.ttft, time.Hour)
}

func appendBedrockUsage(b []byte, u llm.Usage) []byte {
	b = append(b, `{"inputTokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"outputTokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"totalTokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, '}')
}

func appendToolUseID(b []byte, c *call) []byte {
	return appendHex64(append(b, "tooluse_"...), c.seq)
}

func requestID(c *call) string {
	return string(appendHex64(make([]byte, 0, 16), c.seq))
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// toolInput generates the input of a forced tool call: a JSON object with
// every property of the tool's schema, in name order, a string property
// holding the answer's text and the others a value of their type. It uses
// the answer's words, so it is called once per call.
func toolInput(c *call, tool *bedrockTool) []byte {
	ch := &c.choices[0]
	text := make([]byte, 0, ch.length*9)
	for t := range ch.length {
		text = ch.words.next(text, t == ch.length-1 && ch.finish == "stop")
	}
	var schema struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(tool.schema, &schema) // a schema without properties gets {}
	b := []byte{'{'}
	for i, name := range slices.Sorted(maps.Keys(schema.Properties)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		typ, _ := schema.Properties[name].Type.(string)
		switch typ {
		case "integer", "number":
			b = strconv.AppendInt(b, int64(ch.length), 10)
		case "boolean":
			b = append(b, "true"...)
		case "array":
			b = append(b, "[]"...)
		case "object":
			b = append(b, "{}"...)
		case "null":
			b = append(b, "null"...)
		default:
			b = append(b, '"')
			b = append(b, text...) // vocabulary words need no escaping
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// splitFragments cuts s into n pieces of about the same length, on rune
// boundaries (some may be empty when s is short).
func splitFragments(s []byte, n int) [][]byte {
	out := make([][]byte, 0, n)
	start := 0
	for i := range n {
		end := len(s) * (i + 1) / n
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		end = max(end, start)
		out = append(out, s[start:end])
		start = end
	}
	return out
}

// eventWriter writes Bedrock event-stream messages with the SDK's encoder.
type eventWriter struct {
	w       http.ResponseWriter
	enc     *eventstream.Encoder
	payload []byte
}

// event writes an event message of type typ whose JSON payload is
// ew.payload.
func (ew *eventWriter) event(typ string) error {
	var msg eventstream.Message
	msg.Headers.Set(eventstreamapi.MessageTypeHeader, eventstream.StringValue(eventstreamapi.EventMessageType))
	msg.Headers.Set(eventstreamapi.EventTypeHeader, eventstream.StringValue(typ))
	msg.Headers.Set(eventstreamapi.ContentTypeHeader, eventstream.StringValue("application/json"))
	msg.Payload = ew.payload
	return ew.enc.Encode(ew.w, msg)
}

// exception writes an exception message of type typ with message text.
func (ew *eventWriter) exception(typ, text string, originalStatus int) error {
	var msg eventstream.Message
	msg.Headers.Set(eventstreamapi.MessageTypeHeader, eventstream.StringValue(eventstreamapi.ExceptionMessageType))
	msg.Headers.Set(eventstreamapi.ExceptionTypeHeader, eventstream.StringValue(typ))
	msg.Headers.Set(eventstreamapi.ContentTypeHeader, eventstream.StringValue("application/json"))
	p := appendJSONString(append(ew.payload[:0], `{"message":`...), text)
	if originalStatus != 0 {
		p = append(p, `,"originalStatusCode":`...)
		p = strconv.AppendInt(p, int64(originalStatus), 10)
	}
	msg.Payload = append(p, '}')
	return ew.enc.Encode(ew.w, msg)
}

// broken writes an event message whose checksum does not match its bytes.
func (ew *eventWriter) broken() error {
	var buf bytes.Buffer
	var msg eventstream.Message
	msg.Headers.Set(eventstreamapi.MessageTypeHeader, eventstream.StringValue(eventstreamapi.EventMessageType))
	msg.Headers.Set(eventstreamapi.EventTypeHeader, eventstream.StringValue("contentBlockDelta"))
	msg.Headers.Set(eventstreamapi.ContentTypeHeader, eventstream.StringValue("application/json"))
	msg.Payload = []byte(`{"contentBlockIndex":0,"delta":{"text":"` + malformedJSON + `"}}`)
	if err := ew.enc.Encode(&buf, msg); err != nil {
		return err
	}
	b := buf.Bytes()
	b[len(b)-6] ^= 0xff // a payload byte: the message CRC no longer matches
	_, err := ew.w.Write(b)
	return err
}

// streamBedrock sends a streamed answer as Bedrock's event stream:
// messageStart, contentBlockStart (tool use only), a contentBlockDelta per
// token, contentBlockStop, messageStop and metadata. It paces and faults
// the stream as streamHTTP does, and flushes only before a wait and at the
// end.
func (s *Sim) streamBedrock(w http.ResponseWriter, r *http.Request, c *call, tool *bedrockTool) {
	h := w.Header()
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("X-Amzn-Requestid", requestID(c))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := r.Context()
	ew := &eventWriter{w: w, enc: eventstream.NewEncoder(), payload: make([]byte, 0, 256)}
	var t *time.Timer
	wait := func(d time.Duration) bool {
		return d <= 0 || rc.Flush() == nil && sleep(ctx, &t, d) == nil
	}
	if !wait(c.firstDelay()) {
		return
	}
	ew.payload = append(ew.payload[:0], `{"role":"assistant"}`...)
	if ew.event("messageStart") != nil {
		return
	}
	ch := &c.choices[0]
	stop := bedrockStop(ch.finish, tool)
	filtered := c.fault.kind == faultContentFilter
	var fragments [][]byte
	switch {
	case filtered:
		stop = "content_filtered"
	case tool != nil:
		fragments = splitFragments(toolInput(c, tool), ch.length)
		p := append(ew.payload[:0], `{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"`...)
		p = appendToolUseID(p, c)
		p = append(p, `","name":`...)
		ew.payload = append(appendJSONString(p, tool.name), `}}}`...)
		if ew.event("contentBlockStart") != nil {
			return
		}
	}
	// fault fires the call's mid-stream fault; it reports whether the
	// stream goes on.
	faulted := false
	fault := func() bool {
		faulted = true
		switch c.fault.kind {
		case faultCut:
			rc.Flush()
			panic(http.ErrAbortHandler)
		case faultStall:
			d := c.fault.cfg.Delay.D()
			if d == 0 {
				d = forever
			}
			return wait(d)
		case faultErrorEvent:
			ew.exception("modelStreamErrorException", errorEventMessage, http.StatusInternalServerError)
		case faultMalformed:
			ew.broken()
		}
		rc.Flush()
		return false
	}
	sent := 0
	for r := 0; r < ch.length && !filtered; r++ {
		if !faulted && sent == c.faultAt && !fault() {
			return
		}
		if r > 0 && !wait(c.m.itl.draw(c.rng)) {
			return
		}
		p := append(ew.payload[:0], `{"contentBlockIndex":0,"delta":{`...)
		if tool != nil {
			p = append(p, `"toolUse":{"input":`...)
			p = appendJSONString(p, string(fragments[r]))
			p = append(p, '}')
		} else {
			p = append(p, `"text":"`...)
			p = ch.words.next(p, r == ch.length-1 && ch.finish == "stop")
			p = append(p, '"')
		}
		ew.payload = append(p, "}}"...)
		if ew.event("contentBlockDelta") != nil {
			return
		}
		sent++
	}
	if !faulted && sent == c.faultAt && !fault() {
		return
	}
	if !filtered {
		ew.payload = append(ew.payload[:0], `{"contentBlockIndex":0}`...)
		if ew.event("contentBlockStop") != nil {
			return
		}
	}
	ew.payload = append(append(append(ew.payload[:0], `{"stopReason":"`...), stop...), `"}`...)
	if ew.event("messageStop") != nil {
		return
	}
	p := appendBedrockUsage(append(ew.payload[:0], `{"usage":`...), c.bedrockUsage())
	p = append(p, `,"metrics":{"latencyMs":`...)
	ew.payload = append(strconv.AppendInt(p, c.answerLatency().Milliseconds(), 10), "}}"...)
	ew.event("metadata")
	rc.Flush()
}

// invokeRequest is an InvokeModel body of an embedding model: Titan's or
// Cohere's.
type invokeRequest struct {
	InputText  *string  `json:"inputText"`
	Dimensions *int     `json:"dimensions"`
	Texts      []string `json:"texts"`
	InputType  string   `json:"input_type"`
}

// maxCohereTexts is how many texts Cohere's embedding models take at once.
const maxCohereTexts = 96

// serveInvoke answers POST /model/{model}/invoke for embedding models.
func (s *Sim) serveInvoke(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r)
	if e != nil {
		writeBedrockError(w, e)
		return
	}
	var in invokeRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeBedrockError(w, invalid("", "", "Malformed input request: %v, please reformat your input and try again.", err))
		return
	}
	req := &llm.EmbedRequest{Model: r.PathValue("model"), Body: body}
	cohere := in.Texts != nil
	switch {
	case cohere:
		if len(in.Texts) == 0 || len(in.Texts) > maxCohereTexts {
			writeBedrockError(w, invalid("", "", "Malformed input request: #/texts: expected 1 to %d texts, got %d, please reformat your input and try again.", maxCohereTexts, len(in.Texts)))
			return
		}
		req.Input = in.Texts
	case in.InputText != nil && *in.InputText != "":
		req.Input = []string{*in.InputText}
		if in.Dimensions != nil {
			req.Dimensions = *in.Dimensions
		}
	default:
		if _, e := s.lookup(req.Model, true); e != nil {
			writeBedrockError(w, e)
			return
		}
		writeBedrockError(w, invalid("", "", "Malformed input request: #: required key [inputText] not found, please reformat your input and try again."))
		return
	}
	c, dims, e := s.embedCall(req)
	if e != nil {
		writeBedrockError(w, e)
		return
	}
	if !s.startBedrock(w, r, c) {
		return
	}
	defer c.release()
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	em := newEmbedder(c.m)
	vec := make([]float32, dims)
	b := make([]byte, 0, 64+len(req.Input)*(16+dims*12))
	if cohere {
		b = append(b, `{"id":"`...)
		b = appendHex64(b, c.seq)
		b = append(b, `","embeddings":[`...)
		for i, text := range req.Input {
			if i > 0 {
				b = append(b, ',')
			}
			em.vector(text, vec)
			b = appendFloats(b, vec)
		}
		b = append(b, `],"texts":`...)
		t, _ := json.Marshal(req.Input) // strings always marshal
		b = append(b, t...)
		b = append(b, `,"response_type":"embeddings_floats"}`...)
	} else {
		em.vector(req.Input[0], vec)
		b = appendFloats(append(b, `{"embedding":`...), vec)
		b = append(b, `,"inputTextTokenCount":`...)
		b = strconv.AppendInt(b, int64(c.prompt), 10)
		b = append(b, '}')
	}
	h := w.Header()
	h.Set("X-Amzn-Requestid", requestID(c))
	h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(c.prompt))
	answerHTTP(w, c, b)
}

func appendFloats(b []byte, v []float32) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']')
}

// bedrockException is the exception, status and message Bedrock answers
// for the failure e.
func bedrockException(e *llm.Error) (typ string, status int, msg string) {
	status, msg = e.Status, e.Message
	if status == 0 {
		status = http.StatusInternalServerError
	}
	switch {
	case e.Kind == llm.KindContextLength:
		return "ValidationException", http.StatusBadRequest, "Input is too long for requested model. " + msg
	case e.Code == "overloaded":
		return "ServiceUnavailableException", http.StatusServiceUnavailable, "Bedrock is unable to process your request: " + msg
	}
	switch {
	case status == http.StatusTooManyRequests:
		return "ThrottlingException", status, "Too many requests, please wait before trying again. " + msg
	case status == http.StatusServiceUnavailable || status == 529:
		return "ServiceUnavailableException", http.StatusServiceUnavailable, "Bedrock is unable to process your request."
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return "ModelTimeoutException", http.StatusRequestTimeout, "Model has timed out in processing the request. Try your request again."
	case status == http.StatusUnauthorized:
		return "UnrecognizedClientException", http.StatusForbidden, "The security token included in the request is invalid."
	case status == http.StatusForbidden:
		return "AccessDeniedException", status, "You don't have access to the model with the specified model ID."
	case status == http.StatusNotFound:
		return "ResourceNotFoundException", status, fmt.Sprintf("Model not found: %s", msg)
	case status == http.StatusFailedDependency:
		return "ModelErrorException", status, msg
	case status >= 500:
		return "InternalServerException", status, "The server encountered an internal error while processing the request."
	}
	return "ValidationException", status, msg
}

// writeBedrockError answers e in Bedrock's restjson error form: the
// exception's name in X-Amzn-ErrorType and {"message": …} as the body,
// with Retry-After when e has a RetryAfter.
func writeBedrockError(w http.ResponseWriter, e *llm.Error) {
	typ, status, msg := bedrockException(e)
	b := appendJSONString([]byte(`{"message":`), msg)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Errortype", typ)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	retryAfterHeader(h, e.RetryAfter)
	w.WriteHeader(status)
	w.Write(b)
}
