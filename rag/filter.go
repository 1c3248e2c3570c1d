package rag

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Filter is a condition on a file's attributes, as the search endpoint
// takes it: a comparison ({"type": "eq", "key": "author", "value": "x"};
// eq, ne, gt, gte, lt, lte, in, nin) or a compound ({"type": "and",
// "filters": [...]}; and, or). A nil *Filter admits everything. It is
// immutable and safe for concurrent use.
type Filter struct {
	op      string
	key     string
	value   any // string, float64, bool, or []any for in/nin
	filters []*Filter
}

// maxFilterDepth bounds nesting, so a hostile filter cannot exhaust the
// stack.
const maxFilterDepth = 16

// ParseFilter reads a filter from its JSON. An error names what is wrong;
// it is the client's mistake.
func ParseFilter(raw json.RawMessage) (*Filter, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("filters: %v", err)
	}
	return parseFilter(v, "filters", 0)
}

func parseFilter(v any, path string, depth int) (*Filter, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("%s: filters nest deeper than %d", path, maxFilterDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be an object", path)
	}
	op, _ := m["type"].(string)
	switch op {
	case "and", "or":
		list, ok := m["filters"].([]any)
		if !ok {
			return nil, fmt.Errorf("%s.filters: a %s filter needs a list of filters", path, op)
		}
		f := &Filter{op: op}
		for i, sub := range list {
			s, err := parseFilter(sub, fmt.Sprintf("%s.filters[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			f.filters = append(f.filters, s)
		}
		return f, nil
	case "eq", "ne", "gt", "gte", "lt", "lte", "in", "nin":
		key, _ := m["key"].(string)
		if key == "" {
			return nil, fmt.Errorf("%s.key: a comparison needs the attribute's key", path)
		}
		val, present := m["value"]
		if !present {
			return nil, fmt.Errorf("%s.value: a comparison needs a value", path)
		}
		switch x := val.(type) {
		case string, float64, bool:
			if op == "in" || op == "nin" {
				return nil, fmt.Errorf("%s.value: %s takes a list of values", path, op)
			}
		case []any:
			if op != "in" && op != "nin" {
				return nil, fmt.Errorf("%s.value: %s takes a string, number or boolean", path, op)
			}
			for i, e := range x {
				switch e.(type) {
				case string, float64, bool:
				default:
					return nil, fmt.Errorf("%s.value[%d]: must be a string, number or boolean", path, i)
				}
			}
		default:
			return nil, fmt.Errorf("%s.value: must be a string, number, boolean or a list of them", path)
		}
		return &Filter{op: op, key: key, value: val}, nil
	case "":
		return nil, fmt.Errorf("%s.type: missing; one of eq, ne, gt, gte, lt, lte, in, nin, and, or", path)
	}
	return nil, fmt.Errorf("%s.type: %q is not one of eq, ne, gt, gte, lt, lte, in, nin, and, or", path, op)
}

// Op is the filter's type: eq, ne, gt, gte, lt, lte, in, nin, and, or.
// The accessors let a repo compile a filter to its own query language
// with Match's meaning.
func (f *Filter) Op() string { return f.op }

// Key is the attribute a comparison reads ("" for and, or).
func (f *Filter) Key() string { return f.key }

// Value is a comparison's operand: a string, float64 or bool, or for in
// and nin a list of them (a copy).
func (f *Filter) Value() any {
	if list, ok := f.value.([]any); ok {
		return slices.Clone(list)
	}
	return f.value
}

// Filters are the operands of and, or.
func (f *Filter) Filters() []*Filter { return slices.Clone(f.filters) }

// Match reports whether attributes satisfy f. A comparison with an
// attribute that is absent or of another type is false (ne and nin: true).
func (f *Filter) Match(attrs map[string]any) bool {
	if f == nil {
		return true
	}
	switch f.op {
	case "and":
		for _, s := range f.filters {
			if !s.Match(attrs) {
				return false
			}
		}
		return true
	case "or":
		for _, s := range f.filters {
			if s.Match(attrs) {
				return true
			}
		}
		return false
	case "in", "nin":
		got, ok := attrs[f.key]
		in := false
		if ok {
			for _, v := range f.value.([]any) {
				if c, ok := compare(got, v); ok && c == 0 {
					in = true
					break
				}
			}
		}
		return in == (f.op == "in")
	}
	got, ok := attrs[f.key]
	if !ok {
		return f.op == "ne"
	}
	c, ok := compare(got, f.value)
	if !ok {
		return f.op == "ne"
	}
	switch f.op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "gte":
		return c >= 0
	case "lt":
		return c < 0
	default: // lte
		return c <= 0
	}
}

// compare orders a and b when they are of one type (numbers of any Go
// numeric type read from JSON are float64).
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case bool:
		y, ok := b.(bool)
		if !ok || x != y {
			return 1, ok
		}
		return 0, true
	}
	return 0, false
}

// ValidateAttributes checks a file's attributes as the API bounds them: at
// most 16 keys of up to 64 characters, values strings of up to 512
// characters, numbers or booleans.
func ValidateAttributes(attrs map[string]any) error {
	if len(attrs) > 16 {
		return fmt.Errorf("attributes: %d keys, at most 16", len(attrs))
	}
	for k, v := range attrs {
		if k == "" || len(k) > 64 {
			return fmt.Errorf("attributes: key %q must be 1 to 64 characters", k)
		}
		switch x := v.(type) {
		case string:
			if len(x) > 512 {
				return fmt.Errorf("attributes.%s: a string of at most 512 characters", k)
			}
		case float64, bool:
		default:
			return fmt.Errorf("attributes.%s: must be a string, number or boolean", k)
		}
	}
	return nil
}
