package tokens

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Estimates of what llm.Message does not carry (see the package doc).
const (
	imageLow    = 85
	imageHigh   = 765
	toolsFrame  = 12
	perFunction = 7
	perParams   = 3
	perParam    = 3
	perEnum     = -3
	perEnumItem = 3
	perToolCall = 3
)

// markers are what a body holds when it has something extras counts; a
// body with none of them is not decoded again.
var markers = [][]byte{[]byte(`"image_url"`), []byte(`"tools"`), []byte(`"functions"`), []byte(`"tool_calls"`), []byte(`"function_call"`)}

type extrasWire struct {
	Messages []struct {
		Content      json.RawMessage `json:"content"`
		ToolCalls    []toolCallWire  `json:"tool_calls"`
		FunctionCall *functionCall   `json:"function_call"`
	} `json:"messages"`
	Tools []struct {
		Function *functionWire `json:"function"`
	} `json:"tools"`
	Functions []functionWire `json:"functions"`
}

type toolCallWire struct {
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type functionWire struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Parameters  struct {
		Properties map[string]propertyWire `json:"properties"`
	} `json:"parameters"`
}

type propertyWire struct {
	Type        json.RawMessage   `json:"type"`
	Description string            `json:"description"`
	Enum        []json.RawMessage `json:"enum"`
	Properties  json.RawMessage   `json:"properties"`
	Items       json.RawMessage   `json:"items"`
}

type partWire struct {
	Type     string `json:"type"`
	ImageURL *struct {
		Detail string `json:"detail"`
	} `json:"image_url"`
}

// extras returns the estimated tokens of a chat body's images, tools and
// tool calls; zero for a body without any, one that does not decode, or
// when skip is set.
func (c *Counter) extras(body []byte, skip bool) int {
	if skip || len(body) == 0 || !hasMarker(body) {
		return 0
	}
	var w extrasWire
	if json.Unmarshal(body, &w) != nil {
		return 0
	}
	n := 0
	for _, m := range w.Messages {
		if bytes.HasPrefix(bytes.TrimSpace(m.Content), []byte("[")) {
			var parts []partWire
			if json.Unmarshal(m.Content, &parts) == nil {
				for _, p := range parts {
					if p.Type == "image_url" {
						n += imageTokens(p.ImageURL)
					}
				}
			}
		}
		for _, tc := range m.ToolCalls {
			n += perToolCall + c.Text(tc.Function.Name) + c.Text(tc.Function.Arguments)
		}
		if f := m.FunctionCall; f != nil {
			n += perToolCall + c.Text(f.Name) + c.Text(f.Arguments)
		}
	}
	fns := w.Functions
	for _, t := range w.Tools {
		if t.Function != nil {
			fns = append(fns, *t.Function)
		}
	}
	if len(fns) > 0 {
		n += toolsFrame
	}
	for i := range fns {
		n += c.function(&fns[i])
	}
	return max(n, 0)
}

func hasMarker(body []byte) bool {
	for _, m := range markers {
		if bytes.Contains(body, m) {
			return true
		}
	}
	return false
}

func imageTokens(u *struct {
	Detail string `json:"detail"`
}) int {
	if u != nil && u.Detail == "low" {
		return imageLow
	}
	return imageHigh
}

// function estimates a tool definition as OpenAI's cookbook does: the
// definition is rendered as text ("name:description", then per parameter
// "name:type:description") with a few tokens of framing.
func (c *Counter) function(f *functionWire) int {
	n := perFunction + c.Text(f.Name+":"+strings.TrimSuffix(f.Description, "."))
	props := f.Parameters.Properties
	if len(props) > 0 {
		n += perParams
	}
	for name, p := range props {
		n += perParam
		if len(p.Enum) > 0 {
			n += perEnum
			for _, e := range p.Enum {
				var s string
				if json.Unmarshal(e, &s) != nil {
					s = string(e)
				}
				n += perEnumItem + c.Text(s)
			}
		}
		typ := string(p.Type)
		var s string
		if json.Unmarshal(p.Type, &s) == nil {
			typ = s
		}
		n += c.Text(name + ":" + typ + ":" + strings.TrimSuffix(p.Description, "."))
		// Nested schemas count as their JSON text.
		n += c.Text(string(p.Properties)) + c.Text(string(p.Items))
	}
	return n
}
