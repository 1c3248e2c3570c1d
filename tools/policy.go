package tools

import (
	"fmt"
	"net/http"

	"github.com/bulwark-ai/bulwark/config"
)

// Policy is an alias's tool governance (config models[].tools) and its
// checking of structured outputs (models[].response_format). It is
// immutable and safe for concurrent use.
type Policy struct {
	// Tools reports whether the alias governs tool calls (models[].tools
	// is set), as opposed to only structured outputs.
	Tools bool
	// Allow is the alias's allowlist; unset allows every tool.
	Allow Allowlist
	// Refuse refuses a request declaring a tool not allowed, instead of
	// removing the tool.
	Refuse bool
	// MaxCalls bounds the tool calls of one answer; zero: no bound.
	MaxCalls int
	// ValidateArguments checks each call's arguments against the schema
	// its request declared.
	ValidateArguments bool
	// Reask gives an answer whose tool calls break the policy one more
	// call, telling the model what was wrong.
	Reask bool
	// Format checks structured outputs; FormatReask re-asks once on an
	// invalid one.
	Format, FormatReask bool
}

// New returns the policy of an alias's configuration, or nil when it
// governs nothing.
func New(t config.ModelTools, rf config.ModelResponseFormat) *Policy {
	if !t.Enabled() && !rf.Validate {
		return nil
	}
	return &Policy{
		Tools:             t.Enabled(),
		Allow:             Allowlist(append([]string(nil), t.Allow...)),
		Refuse:            t.OnDisallowed == config.ToolsRefuse,
		MaxCalls:          t.MaxCalls,
		ValidateArguments: t.ValidateArguments,
		Reask:             t.OnInvalid != config.OnInvalidError,
		Format:            rf.Validate,
		FormatReask:       rf.OnInvalid != config.OnInvalidError,
	}
}

// The codes of an *Error.
const (
	// CodeNotAllowed: the request declares a tool it may not use (400).
	CodeNotAllowed = "tool_not_allowed"
	// CodeCallNotAllowed: the model called a tool the request did not
	// declare or may not use (502).
	CodeCallNotAllowed = "tool_call_not_allowed"
	// CodeCallInvalid: a call's arguments are not valid JSON or do not
	// match the tool's schema (502).
	CodeCallInvalid = "tool_call_invalid"
	// CodeTooManyCalls: the answer makes more tool calls than the alias
	// allows (502).
	CodeTooManyCalls = "tool_calls_exceeded"
	// CodeFormatInvalid: a structured output does not match the
	// request's json_schema (502).
	CodeFormatInvalid = "response_format_invalid"
	// CodeToolsMalformed: the request's tools cannot be read (400).
	CodeToolsMalformed = "invalid_tools"
)

// Error is a request refused, or an answer rejected, by a policy. Status
// is 400 for a request, 502 for an answer (the model broke the contract
// even after the re-ask, or the alias re-asks none). The message names
// tools and what was wrong, never argument values.
type Error struct {
	Status  int
	Code    string
	Param   string
	Message string
	// Tool names the tool a request was refused for; empty otherwise.
	Tool string
	// Reasked reports whether the answer had its re-ask.
	Reasked bool
}

func (e *Error) Error() string { return e.Message }

func refused(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeNotAllowed, Param: param, Message: fmt.Sprintf(format, args...)}
}

// AnswerError returns the *Error of an answer with violations vs (the
// first decides the code).
func AnswerError(vs []Violation, reasked bool) *Error {
	v := vs[0]
	msg := "the model's answer broke the tool policy: " + v.String()
	if v.Code == CodeFormatInvalid {
		msg = "the model's answer does not match the response_format schema: " + v.Reason
	}
	if len(vs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(vs)-1)
	}
	if reasked {
		msg += "; it was asked once more and failed again"
	}
	return &Error{Status: http.StatusBadGateway, Code: v.Code, Message: msg, Reasked: reasked}
}
