package sim

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

	"github.com/bulwark-ai/bulwark/llm"
)

// The Gemini API (generativelanguage.googleapis.com, v1beta) over the same
// models, so that a Gemini provider can be tested offline:
//
//	POST /v1beta/models/{model}:generateContent
//	POST /v1beta/models/{model}:streamGenerateContent?alt=sse
//	POST /v1beta/models/{model}:embedContent
//	POST /v1beta/models/{model}:batchEmbedContents
//
// A request goes through the same steps as on the OpenAI endpoints (the
// call machinery of call.go: the draw, the context window, the limits,
// capacity, the faults, the latencies, the streamer's pacing and the
// embedder); only the wire format differs. The API key (x-goog-api-key or
// ?key=) is accepted and ignored. In Gemini's form:
//
//   - errors are Google's {"error":{"code","message","status"}}, the status
//     named after the HTTP status (429 RESOURCE_EXHAUSTED with a RetryInfo
//     detail when there is a wait to state, 503 UNAVAILABLE, 500 INTERNAL);
//     the context window is 400 INVALID_ARGUMENT saying that the input token
//     count exceeds the maximum;
//   - the content_filter fault is a blocked prompt: a 200 answer (one SSE
//     event for a stream) with promptFeedback.blockReason SAFETY and no
//     candidates;
//   - the error_event fault is an SSE event holding an error object, then
//     the end; malformed is an event (or body) that is not JSON; cut and
//     stall are as on the OpenAI endpoints; no_done changes nothing, since
//     Gemini's streams have no end marker;
//   - a prompt holding geminiSafetyMarker is answered, but every candidate
//     finishes with SAFETY instead of STOP (a fault-free way to test it);
//   - with function declarations and functionCallingConfig mode ANY, every
//     candidate is one functionCall part: the first allowed (else declared)
//     function, with small arguments derived from its parameters' schema
//     (parameters or parametersJsonSchema) and the prompt.
//
// Embedding responses carry no token counts, as Gemini's do not.

// geminiSafetyMarker in a Gemini prompt makes every candidate finish with
// SAFETY.
const geminiSafetyMarker = "[sim:safety]"

// geminiAPIBase is the path the Gemini endpoints live under.
const geminiAPIBase = "/v1beta/models/"

// geminiContent is a Gemini Content.
type geminiContent struct {
	Role  string       `json:"role"`
	Parts []geminiPart `json:"parts"`
}

// geminiPart is a Gemini Part; the simulator reads the text of each kind.
type geminiPart struct {
	Text       *string `json:"text"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
}

// text is what a part costs and contributes to the answer's content key.
func (p *geminiPart) text() string {
	switch {
	case p.Text != nil:
		return *p.Text
	case p.FunctionCall != nil:
		return p.FunctionCall.Name + string(p.FunctionCall.Args)
	case p.FunctionResponse != nil:
		return p.FunctionResponse.Name + string(p.FunctionResponse.Response)
	case p.InlineData != nil:
		return p.InlineData.MimeType
	case p.FileData != nil:
		return p.FileData.FileURI
	}
	return ""
}

func (c *geminiContent) text() string {
	var sb strings.Builder
	for i := range c.Parts {
		if t := c.Parts[i].text(); t != "" {
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(t)
		}
	}
	return sb.String()
}

// geminiFunction is a function declaration.
type geminiFunction struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
	// ParametersJSONSchema is the JSON Schema form, exclusive with
	// Parameters.
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

// geminiRequest is the part of a GenerateContentRequest the simulator
// reads.
type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []geminiFunction `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		MaxOutputTokens *int     `json:"maxOutputTokens"`
		StopSequences   []string `json:"stopSequences"`
		Seed            *int64   `json:"seed"`
		CandidateCount  *int     `json:"candidateCount"`
	} `json:"generationConfig"`
}

// geminiChat is a decoded generateContent request.
type geminiChat struct {
	req    *llm.ChatRequest
	call   *geminiFunction // the function every candidate calls, or nil
	safety bool            // the prompt holds geminiSafetyMarker
}

// googleError is a Google API error: HTTP status, its canonical name, a
// message and, for a wait, a RetryInfo detail.
func googleError(status int, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindForStatus(status), Status: status, Message: fmt.Sprintf(format, args...)}
}

// googleStatus names an HTTP status as Google's canonical error codes do.
func googleStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	}
	if status >= 500 {
		return "UNKNOWN"
	}
	return "FAILED_PRECONDITION"
}

// googleMessage is what Google says for e: its own words for statuses it
// has them for, e's message otherwise.
func googleMessage(e *llm.Error) string {
	switch e.Status {
	case http.StatusUnauthorized:
		return "API key not valid. Please pass a valid API key."
	case http.StatusTooManyRequests:
		return "Resource has been exhausted (e.g. check quota). " + e.Message
	case http.StatusInternalServerError:
		return "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	case http.StatusServiceUnavailable:
		return "The model is overloaded. Please try again later."
	case http.StatusGatewayTimeout:
		return "Deadline exceeded."
	}
	return e.Message
}

// appendGoogleError appends e's error object, with a RetryInfo detail
// when e states a wait.
func appendGoogleError(b []byte, e *llm.Error) []byte {
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	msg, _ := json.Marshal(googleMessage(e)) // a string always marshals
	b = append(b, `{"error":{"code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	b = append(b, `,"status":"`...)
	b = append(b, googleStatus(status)...)
	b = append(b, '"')
	if e.RetryAfter > 0 {
		b = append(b, `,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"`...)
		b = strconv.AppendFloat(b, e.RetryAfter.Round(time.Millisecond).Seconds(), 'f', -1, 64)
		b = append(b, `s"}]`...)
	}
	return append(b, "}}"...)
}

// writeGoogleError answers e in Google's error format.
func writeGoogleError(w http.ResponseWriter, e *llm.Error) {
	b := append(appendGoogleError(make([]byte, 0, 256), e), '\n')
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// serveGemini answers POST /v1beta/models/{model}:{method}.
func (s *Sim) serveGemini(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		writeGoogleError(w, googleError(http.StatusNotFound, "Unknown request URL: %s %s.", r.Method, r.URL.Path))
		return
	}
	name, method := rest[:i], rest[i+1:]
	switch method {
	case "generateContent":
		s.serveGenerate(w, r, name, false)
	case "streamGenerateContent":
		if r.URL.Query().Get("alt") != "sse" {
			writeGoogleError(w, googleError(http.StatusBadRequest, "The simulator streams only server-sent events: add alt=sse to the URL."))
			return
		}
		s.serveGenerate(w, r, name, true)
	case "embedContent", "batchEmbedContents":
		s.serveGeminiEmbed(w, r, name, method == "batchEmbedContents")
	default:
		writeGoogleError(w, googleError(http.StatusNotFound, "Method %s is not found for API version v1beta.", method))
	}
}

// geminiLookup finds a model in Gemini's words.
func (s *Sim) geminiLookup(name string, embed bool) *llm.Error {
	if _, e := s.lookup(name, embed); e != nil {
		if e.Kind == llm.KindNotFound {
			return googleError(http.StatusNotFound, "models/%s is not found for API version v1beta, or is not supported for this method.", name)
		}
		return googleError(http.StatusBadRequest, "%s", e.Message)
	}
	return nil
}

// decodeGemini decodes and validates a GenerateContentRequest for model.
func decodeGemini(body []byte, model string) (*geminiChat, *llm.Error) {
	var w geminiRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, googleError(http.StatusBadRequest, "Invalid JSON payload received. %v", err)
	}
	if len(w.Contents) == 0 {
		return nil, googleError(http.StatusBadRequest, "* GenerateContentRequest.contents: contents is not specified")
	}
	g := &geminiChat{req: &llm.ChatRequest{Model: model, Body: body}}
	req := g.req
	if si := w.SystemInstruction; si != nil {
		req.Messages = append(req.Messages, llm.Message{Role: "system", Content: si.text()})
	}
	for i := range w.Contents {
		c := &w.Contents[i]
		role := "user"
		switch c.Role {
		case "", "user":
			for _, p := range c.Parts {
				if p.FunctionResponse != nil {
					role = "tool"
				}
			}
		case "model":
			role = "assistant"
		default:
			return nil, googleError(http.StatusBadRequest, "Please use a valid role: user, model.")
		}
		if len(c.Parts) == 0 {
			return nil, googleError(http.StatusBadRequest, "* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		text := c.text()
		req.Messages = append(req.Messages, llm.Message{Role: role, Content: text})
		g.safety = g.safety || strings.Contains(text, geminiSafetyMarker)
	}
	if gc := w.GenerationConfig; gc != nil {
		req.Stop, req.Seed = gc.StopSequences, gc.Seed
		if gc.MaxOutputTokens != nil {
			if *gc.MaxOutputTokens < 1 {
				return nil, googleError(http.StatusBadRequest, "* GenerateContentRequest.generation_config.max_output_tokens: must be positive, got %d.", *gc.MaxOutputTokens)
			}
			req.MaxTokens = *gc.MaxOutputTokens
		}
		if gc.CandidateCount != nil {
			if *gc.CandidateCount < 1 || *gc.CandidateCount > maxChoices {
				return nil, googleError(http.StatusBadRequest, "* GenerateContentRequest.generation_config.candidate_count: must be from 1 to %d, got %d.", maxChoices, *gc.CandidateCount)
			}
			req.N = *gc.CandidateCount
		}
	}
	if e := checkChat(req); e != nil {
		return nil, googleError(http.StatusBadRequest, "%s", e.Message)
	}
	var decls []geminiFunction
	for _, t := range w.Tools {
		decls = append(decls, t.FunctionDeclarations...)
	}
	if tc := w.ToolConfig; len(decls) > 0 && tc != nil && tc.FunctionCallingConfig != nil && tc.FunctionCallingConfig.Mode == "ANY" {
		g.call = &decls[0]
		if allowed := tc.FunctionCallingConfig.AllowedFunctionNames; len(allowed) > 0 {
			i := slices.IndexFunc(decls, func(f geminiFunction) bool { return f.Name == allowed[0] })
			if i < 0 {
				return nil, googleError(http.StatusBadRequest, "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: %q is not a declared function.", allowed[0])
			}
			g.call = &decls[i]
		}
	}
	return g, nil
}

// serveGenerate answers generateContent and streamGenerateContent.
func (s *Sim) serveGenerate(w http.ResponseWriter, r *http.Request, name string, stream bool) {
	body, e := readBody(w, r)
	if e != nil {
		writeGoogleError(w, e)
		return
	}
	if e := s.geminiLookup(name, false); e != nil {
		writeGoogleError(w, e)
		return
	}
	g, e := decodeGemini(body, name)
	if e != nil {
		writeGoogleError(w, e)
		return
	}
	c, e := s.chatCall(g.req)
	if e != nil {
		if e.Kind == llm.KindContextLength {
			prompt := promptTokens(g.req.Messages)
			e = googleError(http.StatusBadRequest, "The input token count (%d) exceeds the maximum number of tokens allowed (%d).",
				prompt, max(s.models[name].window-max(g.req.MaxTokens, 1), 0))
		}
		writeGoogleError(w, e)
		return
	}
	ga := &geminiAnswer{c: c, g: g}
	if !s.startGemini(w, r, c, ga, stream) {
		return
	}
	defer c.release()
	if stream {
		ga.stream(w, r)
		return
	}
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	answerHTTP(w, c, ga.appendResponse(make([]byte, 0, c.completionSize())))
}

// startGemini is startHTTP in Gemini's form: it admits c and applies the
// faults that answer before any output, the content filter as a blocked
// prompt (ga nil: as an error). It reports whether the answer may go on;
// when it returns true the caller must release c.
func (s *Sim) startGemini(w http.ResponseWriter, r *http.Request, c *call, ga *geminiAnswer, stream bool) bool {
	if e := c.admit(r.Context()); e != nil {
		if e.Status != 0 { // else the client left while queued
			writeGoogleError(w, e)
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
		if ga != nil {
			c.release()
			ga.blocked(w, stream)
			return false
		}
	}
	if e := c.refusal(); e != nil {
		c.release()
		writeGoogleError(w, e)
		return false
	}
	return true
}

// geminiAnswer writes one generateContent answer.
type geminiAnswer struct {
	c *call
	g *geminiChat
}

// geminiFinish is Gemini's finish reason for the simulator's.
func (ga *geminiAnswer) finish(reason string) string {
	switch {
	case ga.g.safety:
		return "SAFETY"
	case ga.g.call != nil:
		return "STOP" // a call is whole, however long the text would have been
	case reason == "length":
		return "MAX_TOKENS"
	}
	return "STOP"
}

// appendTail appends what ends every GenerateContentResponse: usage (the
// prompt's only, unless full), the model version and the response id.
func (ga *geminiAnswer) appendTail(b []byte, full bool) []byte {
	u := ga.c.usage()
	b = append(b, `"usageMetadata":{"promptTokenCount":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	if full {
		b = append(b, `,"candidatesTokenCount":`...)
		b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
		b = append(b, `,"totalTokenCount":`...)
		b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	} else {
		b = append(b, `,"totalTokenCount":`...)
		b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	}
	b = append(b, `},"modelVersion":`...)
	b = append(b, ga.c.m.nameJSON...)
	b = append(b, `,"responseId":"`...)
	b = appendHex64(b, ga.c.seq)
	return append(b, `"}`...)
}

// appendCandidate appends candidate i: its parts (from appendParts), its
// finish reason ("" for none) and its index.
func (ga *geminiAnswer) appendCandidate(b []byte, i int, finish string, appendParts func([]byte) []byte) []byte {
	b = append(b, `{"content":{"parts":[`...)
	b = appendParts(b)
	b = append(b, `],"role":"model"}`...)
	if finish != "" {
		b = append(b, `,"finishReason":"`...)
		b = append(b, finish...)
		b = append(b, '"')
	}
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '}')
}

// appendCall appends the functionCall part every candidate answers with.
func (ga *geminiAnswer) appendCall(b []byte) []byte {
	name, _ := json.Marshal(ga.g.call.Name)
	b = append(b, `{"functionCall":{"name":`...)
	b = append(b, name...)
	b = append(b, `,"args":`...)
	b = append(b, ga.args()...)
	return append(b, "}}"...)
}

// args are the call's arguments: for each of the first four properties of
// the function's parameters (in name order), a value of its type chosen by
// the prompt.
func (ga *geminiAnswer) args() []byte {
	var schema struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	params := ga.g.call.Parameters
	if len(params) == 0 {
		params = ga.g.call.ParametersJSONSchema
	}
	_ = json.Unmarshal(params, &schema) // no schema: no arguments
	key := ga.c.m.contentKey(ga.g.req)
	args := make(map[string]any)
	for _, p := range slices.Sorted(maps.Keys(schema.Properties)) {
		if len(args) == 4 {
			break
		}
		h := mix(hashString(key, p))
		typ, _ := schema.Properties[p].Type.(string)
		switch strings.ToLower(typ) {
		case "integer", "number":
			args[p] = 1 + int(h%9)
		case "boolean":
			args[p] = h&1 == 1
		case "array":
			args[p] = []string{vocabulary[h%uint64(len(vocabulary))]}
		case "object":
			args[p] = map[string]any{}
		default:
			args[p] = vocabulary[h%uint64(len(vocabulary))]
		}
	}
	b, _ := json.Marshal(args) // strings, numbers and booleans only
	return b
}

// appendResponse appends the GenerateContentResponse of a plain answer. It
// generates the answers' text, so it is called once per call.
func (ga *geminiAnswer) appendResponse(b []byte) []byte {
	c := ga.c
	b = append(b, `{"candidates":[`...)
	for i := range c.choices {
		ch := &c.choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = ga.appendCandidate(b, i, ga.finish(ch.finish), func(b []byte) []byte {
			if ga.g.call != nil {
				return ga.appendCall(b)
			}
			b = append(b, `{"text":"`...)
			for t := range ch.length {
				b = ch.words.next(b, t == ch.length-1 && ch.finish == "stop")
			}
			return append(b, `"}`...)
		})
	}
	b = append(b, "],"...)
	return ga.appendTail(b, true)
}

// blocked answers a prompt blocked by the content filter: promptFeedback
// with blockReason SAFETY and no candidates, as a body or one SSE event.
func (ga *geminiAnswer) blocked(w http.ResponseWriter, stream bool) {
	b := append(make([]byte, 0, 384), `{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[`...)
	b = append(b, `{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH","blocked":true}]},`...)
	u := ga.c.usage()
	b = append(b, `"usageMetadata":{"promptTokenCount":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"totalTokenCount":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `},"modelVersion":`...)
	b = append(b, ga.c.m.nameJSON...)
	b = append(b, '}')
	h := w.Header()
	if stream {
		h.Set("Content-Type", "text/event-stream")
		b = append(append([]byte("data: "), b...), "\n\n"...)
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
		b = append(b, '\n')
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// Markers of the streamer's OpenAI-format chunks, from which the Gemini
// stream takes the choice index and the token.
var (
	chunkIndex   = []byte(`{"index":`)
	chunkContent = []byte(`"delta":{"content":"`)
	chunkEnd     = []byte(`"},"logprobs":`)
)

// stream sends a streamed answer as Gemini's server-sent events, each a
// GenerateContentResponse: one per token, then per candidate one with its
// finish reason (the last one with the full usage). It is driven by the
// streamer, which paces the tokens and fires the mid-stream faults exactly
// as on the OpenAI endpoint; its chunks are read for their choice index and
// token only. A function-call candidate is sent whole, in one event, when
// its text answer would have finished.
func (ga *geminiAnswer) stream(w http.ResponseWriter, r *http.Request) {
	c := ga.c
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx := r.Context()
	st := newStreamer(c, false)
	in := make([]byte, 0, 512)
	out := make([]byte, 0, 512)
	var t *time.Timer
	finished := 0
	for {
		role := st.phase == phaseRole
		b, step := st.next(in[:0])
		in = b
		if step.wait > 0 {
			if rc.Flush() != nil || sleep(ctx, &t, step.wait) != nil {
				return
			}
		}
		out = append(out[:0], "data: "...)
		switch step.ev {
		case evPause, evUsage:
			continue
		case evCut:
			rc.Flush()
			panic(http.ErrAbortHandler)
		case evMalformed:
			out = append(out, malformedJSON...)
		case evErrorEvent:
			e := googleError(http.StatusInternalServerError, errorEventMessage)
			w.Write(append(appendGoogleError(out, e), "\n\n"...))
			rc.Flush()
			return
		case evEnd:
			rc.Flush()
			return
		case evChunk:
			if role || (ga.g.call != nil && step.finish == "") {
				continue // Gemini has no role event; a call is sent whole
			}
			i, token := chunkParts(b[len(st.head):])
			finish := ""
			if step.finish != "" {
				finish = ga.finish(step.finish)
				finished++
			}
			out = append(out, `{"candidates":[`...)
			out = ga.appendCandidate(out, i, finish, func(b []byte) []byte {
				if ga.g.call != nil {
					return ga.appendCall(b)
				}
				b = append(b, `{"text":"`...)
				b = append(b, token...)
				return append(b, `"}`...)
			})
			out = append(out, "],"...)
			out = ga.appendTail(out, finished == len(c.choices))
		}
		out = append(out, "\n\n"...)
		if _, err := w.Write(out); err != nil {
			return
		}
	}
}

// chunkParts reads the choice index and the token (empty for a finish
// chunk) of a streamer chunk's choices.
func chunkParts(b []byte) (int, []byte) {
	b = bytes.TrimPrefix(b, chunkIndex)
	n := 0
	for len(b) > 0 && '0' <= b[0] && b[0] <= '9' {
		n = n*10 + int(b[0]-'0')
		b = b[1:]
	}
	i := bytes.Index(b, chunkContent)
	if i < 0 {
		return n, nil
	}
	b = b[i+len(chunkContent):]
	if j := bytes.Index(b, chunkEnd); j >= 0 {
		return n, b[:j]
	}
	return n, nil
}

// geminiEmbedRequest is an EmbedContentRequest.
type geminiEmbedRequest struct {
	Model                string         `json:"model"`
	Content              *geminiContent `json:"content"`
	OutputDimensionality *int           `json:"outputDimensionality"`
}

// serveGeminiEmbed answers embedContent and batchEmbedContents.
func (s *Sim) serveGeminiEmbed(w http.ResponseWriter, r *http.Request, name string, batch bool) {
	body, e := readBody(w, r)
	if e != nil {
		writeGoogleError(w, e)
		return
	}
	if e := s.geminiLookup(name, true); e != nil {
		writeGoogleError(w, e)
		return
	}
	var reqs []geminiEmbedRequest
	if batch {
		var wb struct {
			Requests []geminiEmbedRequest `json:"requests"`
		}
		if err := json.Unmarshal(body, &wb); err != nil {
			writeGoogleError(w, googleError(http.StatusBadRequest, "Invalid JSON payload received. %v", err))
			return
		}
		reqs = wb.Requests
	} else {
		var one geminiEmbedRequest
		if err := json.Unmarshal(body, &one); err != nil {
			writeGoogleError(w, googleError(http.StatusBadRequest, "Invalid JSON payload received. %v", err))
			return
		}
		reqs = []geminiEmbedRequest{one}
	}
	req := &llm.EmbedRequest{Model: name, Body: body, Input: make([]string, len(reqs))}
	for i, er := range reqs {
		if er.Model != "" && er.Model != "models/"+name {
			writeGoogleError(w, googleError(http.StatusBadRequest,
				"* BatchEmbedContentsRequest.requests[%d].model: the model %q is not the model of the URL, models/%s.", i, er.Model, name))
			return
		}
		if er.Content == nil {
			writeGoogleError(w, googleError(http.StatusBadRequest, "* EmbedContentRequest.content: content is not specified"))
			return
		}
		req.Input[i] = er.Content.text()
		if d := er.OutputDimensionality; d != nil {
			if i > 0 && *d != req.Dimensions {
				writeGoogleError(w, googleError(http.StatusBadRequest, "* BatchEmbedContentsRequest.requests[%d].output_dimensionality: every request must ask for the same dimensionality.", i))
				return
			}
			req.Dimensions = *d
		}
	}
	if e := checkEmbed(req); e != nil {
		writeGoogleError(w, googleError(http.StatusBadRequest, "%s", e.Message))
		return
	}
	c, dims, e := s.embedCall(req)
	if e != nil {
		if e.Kind == llm.KindContextLength {
			e = googleError(http.StatusBadRequest, "The input token count exceeds the maximum number of tokens allowed (%d).", s.models[name].window)
		} else {
			e = googleError(e.Status, "%s", e.Message)
		}
		writeGoogleError(w, e)
		return
	}
	if !s.startGemini(w, r, c, nil, false) {
		return
	}
	defer c.release()
	if !waitHTTP(r, c.answerDelay()) {
		return
	}
	em := newEmbedder(c.m)
	vec := make([]float32, dims)
	b := make([]byte, 0, 32+len(req.Input)*(24+dims*12))
	if batch {
		b = append(b, `{"embeddings":[`...)
	} else {
		b = append(b, `{"embedding":`...)
	}
	for i, in := range req.Input {
		em.vector(in, vec)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"values":[`...)
		for j, x := range vec {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
		b = append(b, "]}"...)
	}
	if batch {
		b = append(b, ']')
	}
	answerHTTP(w, c, append(b, '}'))
}
