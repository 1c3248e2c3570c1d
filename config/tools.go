package config

import (
	"path"
)

// ModelTools is an alias's governance of tool calls (package tools): which
// tools a request may declare and the model may call, what happens to the
// others, how many calls one answer may make, and whether a call's
// arguments are checked against the schema its request declared. Keys and
// tenants may narrow the allowlist further (tenant.Attributes.Tools); the
// tools a request may use are those every allowlist that is set allows.
// The zero value governs nothing.
type ModelTools struct {
	// Allow lists the tools the alias serves, by name or glob (path.Match:
	// "search_*", "crm.*"); empty allows every tool.
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	// OnDisallowed is what happens to a request declaring a tool that is
	// not allowed: remove (default) takes it out of the request before
	// the call, refuse answers 400 tool_not_allowed.
	OnDisallowed string `yaml:"on_disallowed" json:"on_disallowed,omitempty"`
	// MaxCalls bounds the tool calls of one answer (all its choices);
	// zero bounds nothing.
	MaxCalls int `yaml:"max_calls" json:"max_calls,omitempty"`
	// ValidateArguments checks every tool call's arguments against the
	// JSON Schema its request declared for the tool (parameters).
	ValidateArguments bool `yaml:"validate_arguments" json:"validate_arguments,omitempty"`
	// OnInvalid is what happens to an answer whose tool calls break the
	// policy (a tool not allowed or not declared, invalid arguments, too
	// many calls): reask (default) asks the model once more, telling it
	// what was wrong, error answers 502 at once.
	OnInvalid string `yaml:"on_invalid" json:"on_invalid,omitempty"`
}

// ModelResponseFormat is an alias's checking of structured outputs: with
// Validate, an answer to a request whose response_format is json_schema
// is checked against that schema before it is returned.
type ModelResponseFormat struct {
	Validate bool `yaml:"validate" json:"validate,omitempty"`
	// OnInvalid is reask (default: one more call, telling the model what
	// was wrong) or error (502 at once).
	OnInvalid string `yaml:"on_invalid" json:"on_invalid,omitempty"`
}

// The actions on a disallowed tool (ModelTools.OnDisallowed).
const (
	ToolsRemove = "remove"
	ToolsRefuse = "refuse"
)

// The actions on an invalid answer (ModelTools.OnInvalid,
// ModelResponseFormat.OnInvalid).
const (
	OnInvalidReask = "reask"
	OnInvalidError = "error"
)

// MaxToolPattern bounds one name or glob of a tool allowlist, in bytes;
// MaxToolPatterns bounds the patterns of one allowlist.
const (
	MaxToolPattern  = 128
	MaxToolPatterns = 256
)

// Enabled reports whether t governs anything.
func (t ModelTools) Enabled() bool {
	return len(t.Allow) > 0 || t.MaxCalls > 0 || t.ValidateArguments || t.OnDisallowed != "" || t.OnInvalid != ""
}

// CheckToolPattern reports what is wrong with a tool allowlist's name or
// glob, or "" when it is valid.
func CheckToolPattern(p string) string {
	if p == "" || len(p) > MaxToolPattern {
		return "must be 1 to 128 characters"
	}
	if _, err := path.Match(p, ""); err != nil {
		return "is not a valid glob: " + err.Error()
	}
	return ""
}

// tools checks every alias's tool governance and response format.
func (v *validator) tools(c *Config) {
	for i, m := range c.Models {
		p := childIndex("models", i) + ".tools"
		t := m.Tools
		if len(t.Allow) > MaxToolPatterns {
			v.add(p+".allow", "lists %d patterns; at most %d are allowed", len(t.Allow), MaxToolPatterns)
		}
		for j, a := range t.Allow {
			if msg := CheckToolPattern(a); msg != "" {
				v.add(childIndex(p+".allow", j), "%s", msg)
			}
		}
		v.oneOf(p+".on_disallowed", t.OnDisallowed, []string{ToolsRemove, ToolsRefuse})
		v.oneOf(p+".on_invalid", t.OnInvalid, []string{OnInvalidReask, OnInvalidError})
		v.nonNegative(p+".max_calls", int64(t.MaxCalls))
		rf := childIndex("models", i) + ".response_format"
		v.oneOf(rf+".on_invalid", m.ResponseFormat.OnInvalid, []string{OnInvalidReask, OnInvalidError})
	}
}
