package tools

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
)

// Request is what Govern found in a chat request: the tools it declares
// once the policy applied, the ones removed, and its structured-output
// schema. It is used by one request.
type Request struct {
	// Declared maps each tool the request declares (and may use) to its
	// parameters schema, nil when it declared none.
	Declared map[string]json.RawMessage
	// Removed are the tools taken out of the request, in request order.
	Removed []string
	// Format is the schema of a json_schema response_format; nil when
	// there is none.
	Format json.RawMessage

	schemas map[string]*compiled // compiled on first use
}

type wireFunction struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

// Govern applies allow to a chat request body: every tool (tools, or the
// legacy functions) it does not allow is removed, or, with refuse, the
// request is refused with an *Error (400 tool_not_allowed). A tool_choice
// or function_call that forces a tool not allowed is refused either way:
// the request cannot be served as asked. When nothing is removed the body
// is returned as it is; otherwise the rewritten body, without tools,
// tool_choice and parallel_tool_calls when no tool is left.
func Govern(body json.RawMessage, allow Allowlists, refuse bool) (json.RawMessage, *Request, error) {
	r := &Request{}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return body, r, nil // not a body the gateway reads; decoding refused it before
	}
	r.Format = formatSchema(top["response_format"])
	var ts []map[string]json.RawMessage
	if raw := top["tools"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &ts); err != nil {
			return nil, nil, malformed("tools", "tools must be an array of objects")
		}
	}
	var fs []json.RawMessage
	if raw := top["functions"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &fs); err != nil {
			return nil, nil, malformed("functions", "functions must be an array of objects")
		}
	}
	r.Declared = make(map[string]json.RawMessage, len(ts)+len(fs))
	keptTools := ts[:0:0]
	for i, t := range ts {
		name, params, err := toolOf(t)
		if err != nil {
			return nil, nil, malformed("tools", "tools[%d]: %v", i, err)
		}
		if !allow.Allows(name) {
			if refuse {
				e := refused("tools", "the tool %q is not allowed for this key and model", name)
				e.Tool = name
				return nil, nil, e
			}
			r.Removed = append(r.Removed, name)
			continue
		}
		r.Declared[name] = params
		keptTools = append(keptTools, t)
	}
	keptFuncs := fs[:0:0]
	for i, raw := range fs {
		var f wireFunction
		if err := json.Unmarshal(raw, &f); err != nil || f.Name == "" {
			return nil, nil, malformed("functions", "functions[%d] needs a name", i)
		}
		if !allow.Allows(f.Name) {
			if refuse {
				e := refused("functions", "the function %q is not allowed for this key and model", f.Name)
				e.Tool = f.Name
				return nil, nil, e
			}
			r.Removed = append(r.Removed, f.Name)
			continue
		}
		r.Declared[f.Name] = nullSchema(f.Parameters)
		keptFuncs = append(keptFuncs, raw)
	}
	for _, key := range []string{"tool_choice", "function_call"} {
		if name := forced(top[key]); name != "" && slices.Contains(r.Removed, name) {
			return nil, nil, refused(key, "%s forces the tool %q, which is not allowed for this key and model", key, name)
		}
	}
	if len(r.Removed) == 0 {
		return body, r, nil
	}
	set := func(key string, v any, n int) error {
		if n == 0 {
			delete(top, key)
			return nil
		}
		b, err := json.Marshal(v)
		top[key] = b
		return err
	}
	if _, ok := top["tools"]; ok {
		if err := set("tools", keptTools, len(keptTools)); err != nil {
			return nil, nil, err
		}
		if len(keptTools) == 0 {
			delete(top, "tool_choice")
			delete(top, "parallel_tool_calls")
		}
	}
	if _, ok := top["functions"]; ok {
		if err := set("functions", keptFuncs, len(keptFuncs)); err != nil {
			return nil, nil, err
		}
		if len(keptFuncs) == 0 {
			delete(top, "function_call")
		}
	}
	out, err := json.Marshal(top)
	if err != nil {
		return nil, nil, err
	}
	return out, r, nil
}

// toolOf returns the name and parameters schema of a tools entry: a
// function's name, or the type of a tool of another type (a built-in tool
// such as web_search is allowed by its type).
func toolOf(t map[string]json.RawMessage) (string, json.RawMessage, error) {
	var typ string
	if raw := t["type"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &typ); err != nil {
			return "", nil, errString("type must be a string")
		}
	}
	if typ != "" && typ != "function" {
		return typ, nil, nil
	}
	var f wireFunction
	if err := json.Unmarshal(t["function"], &f); err != nil || f.Name == "" {
		return "", nil, errString("a function tool needs function.name")
	}
	return f.Name, nullSchema(f.Parameters), nil
}

// forced returns the tool a tool_choice or function_call forces, "" for
// none (auto, none, required or absent).
func forced(raw json.RawMessage) string {
	if isNull(raw) || bytes.TrimSpace(raw)[0] == '"' {
		return ""
	}
	var o struct {
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return ""
	}
	if o.Function != nil {
		return o.Function.Name
	}
	return o.Name
}

// formatSchema returns the schema of a json_schema response_format.
func formatSchema(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if json.Unmarshal(raw, &f) != nil || f.Type != "json_schema" || f.JSONSchema == nil {
		return nil
	}
	return nullSchema(f.JSONSchema.Schema)
}

func nullSchema(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return nil
	}
	return raw
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

type errString string

func (e errString) Error() string { return string(e) }

func malformed(param, format string, args ...any) *Error {
	e := refused(param, format, args...)
	e.Status, e.Code = http.StatusBadRequest, CodeToolsMalformed
	return e
}
