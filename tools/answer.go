package tools

import (
	"encoding/json"
	"fmt"
)

// Call is one tool call of an answer.
type Call struct {
	// Choice is the index of the choice that made it.
	Choice int
	// Index is the call's place among the answer's calls.
	Index     int
	ID, Name  string
	Arguments string
}

// Violation is one way an answer broke the policy.
type Violation struct {
	// Call is the call at fault; zero for a structured output.
	Call   Call
	Code   string
	Reason string
}

func (v Violation) String() string {
	if v.Call.Name == "" {
		return v.Reason
	}
	return fmt.Sprintf("the call of %q: %s", v.Call.Name, v.Reason)
}

// Answer is what Read found in a chat.completion body.
type Answer struct {
	Calls []Call
	// Contents are each choice's text content, by choice index; a choice
	// with no content (tool calls only, or a refusal) has none.
	Contents map[int]string
	// Choices is the number of choices.
	Choices int
}

type wireAnswer struct {
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content   *string         `json:"content"`
			Refusal   *string         `json:"refusal"`
			ToolCalls []wireCall      `json:"tool_calls"`
			Function  *wireCallDetail `json:"function_call"`
		} `json:"message"`
	} `json:"choices"`
}

type wireCall struct {
	ID       string         `json:"id"`
	Function wireCallDetail `json:"function"`
}

type wireCallDetail struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Read reads the tool calls and contents of a chat.completion body.
func Read(body []byte) (*Answer, error) {
	var w wireAnswer
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	a := &Answer{Contents: map[int]string{}, Choices: len(w.Choices)}
	for _, c := range w.Choices {
		m := c.Message
		for _, tc := range m.ToolCalls {
			a.Calls = append(a.Calls, Call{Choice: c.Index, Index: len(a.Calls), ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		if f := m.Function; f != nil {
			a.Calls = append(a.Calls, Call{Choice: c.Index, Index: len(a.Calls), Name: f.Name, Arguments: f.Arguments})
		}
		if m.Content != nil && (m.Refusal == nil || *m.Refusal == "") && len(m.ToolCalls) == 0 && m.Function == nil {
			a.Contents[c.Index] = *m.Content
		}
	}
	return a, nil
}

// CheckCalls returns how calls break the policy for a request r found by
// Govern: a call of a tool the request did not declare (or may not use:
// Govern removed it), arguments that are not JSON or, with
// ValidateArguments, do not match the tool's schema, and calls beyond
// MaxCalls. A schema the request declared that does not compile makes
// every call of the tool invalid.
func (p *Policy) CheckCalls(r *Request, calls []Call) []Violation {
	var vs []Violation
	for i, c := range calls {
		if v, bad := p.checkCall(r, c); bad {
			vs = append(vs, v)
		}
		if p.MaxCalls > 0 && i == p.MaxCalls {
			vs = append(vs, Violation{Call: c, Code: CodeTooManyCalls,
				Reason: fmt.Sprintf("the answer makes %d tool calls; at most %d are allowed", len(calls), p.MaxCalls)})
		}
	}
	return vs
}

// checkCall returns how one call breaks the policy, if it does.
func (p *Policy) checkCall(r *Request, c Call) (Violation, bool) {
	params, declared := r.Declared[c.Name]
	switch {
	case !declared:
		why := "the request does not declare this tool"
		for _, n := range r.Removed {
			if n == c.Name {
				why = "the tool is not allowed for this key and model"
			}
		}
		return Violation{Call: c, Code: CodeCallNotAllowed, Reason: why}, true
	case !json.Valid([]byte(c.Arguments)):
		return Violation{Call: c, Code: CodeCallInvalid, Reason: "the arguments are not valid JSON"}, true
	case p.ValidateArguments && params != nil:
		s := r.schema(c.Name, params)
		if s.err != nil {
			return Violation{Call: c, Code: CodeCallInvalid, Reason: s.err.Error()}, true
		}
		if why := validate(s.s, c.Arguments); why != "" {
			return Violation{Call: c, Code: CodeCallInvalid, Reason: "the arguments do not match the tool's schema: " + why}, true
		}
	}
	return Violation{}, false
}

// CheckFormat returns how the answer's contents fail the request's
// json_schema response format; nil when r has none or they match.
func (r *Request) CheckFormat(a *Answer) []Violation {
	if r == nil || r.Format == nil {
		return nil
	}
	s := r.schema("", r.Format)
	var vs []Violation
	for i := range a.Choices {
		text, ok := a.Contents[i]
		if !ok {
			continue
		}
		if s.err != nil {
			vs = append(vs, Violation{Call: Call{Choice: i}, Code: CodeFormatInvalid, Reason: s.err.Error()})
		} else if why := validate(s.s, text); why != "" {
			vs = append(vs, Violation{Call: Call{Choice: i}, Code: CodeFormatInvalid, Reason: why})
		}
	}
	return vs
}

// schema returns the compiled schema of a tool ("" for the response
// format), compiling it on first use (compileCached).
func (r *Request) schema(name string, raw json.RawMessage) *compiled {
	if c, ok := r.schemas[name]; ok {
		return c
	}
	if r.schemas == nil {
		r.schemas = map[string]*compiled{}
	}
	c := compileCached(raw)
	r.schemas[name] = &c
	return &c
}
