package postgres

import (
	"fmt"
	"strings"

	"github.com/bulwark-ai/bulwark/rag"
)

// filterSQL compiles f to a condition on sf.attributes (jsonb), the
// attributes of a chunk's store file, with rag.Filter.Match's meaning: a
// comparison with an attribute that is absent or of another type is false
// (ne and nin: true); strings compare byte by byte (COLLATE "C"), as Go
// does. Values go in as arguments, keys too: nothing of the client's is
// SQL text. A nil f is "".
func filterSQL(f *rag.Filter, a *args) (string, error) {
	if f == nil {
		return "", nil
	}
	return filterCond(f, a)
}

func filterCond(f *rag.Filter, a *args) (string, error) {
	switch op := f.Op(); op {
	case "and", "or":
		subs := f.Filters()
		if len(subs) == 0 {
			return map[string]string{"and": "true", "or": "false"}[op], nil
		}
		parts := make([]string, len(subs))
		for i, s := range subs {
			c, err := filterCond(s, a)
			if err != nil {
				return "", err
			}
			parts[i] = c
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(op)+" ") + ")", nil
	case "in", "nin":
		list, _ := f.Value().([]any)
		if len(list) == 0 {
			return map[string]string{"in": "false", "nin": "true"}[op], nil
		}
		var parts []string
		key := a.add(f.Key())
		for _, v := range list {
			c, err := compareSQL(key, "eq", v, a)
			if err != nil {
				return "", err
			}
			parts = append(parts, c)
		}
		in := "(" + strings.Join(parts, " OR ") + ")"
		if op == "nin" {
			return "NOT " + in, nil
		}
		return in, nil
	case "ne":
		c, err := compareSQL(a.add(f.Key()), "eq", f.Value(), a)
		return "NOT " + c, err
	case "eq", "gt", "gte", "lt", "lte":
		return compareSQL(a.add(f.Key()), op, f.Value(), a)
	default:
		return "", fmt.Errorf("filter: unknown type %q", op)
	}
}

// compareSQL is the comparison of the attribute named by the placeholder
// key with v: true or false, never NULL.
func compareSQL(key, op string, v any, a *args) (string, error) {
	sqlOp := map[string]string{"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
	attr := "sf.attributes -> " + key + "::text"
	text := "sf.attributes ->> " + key + "::text"
	var typ, expr string
	switch x := v.(type) {
	case string:
		typ, expr = "string", text+` COLLATE "C" `+sqlOp+" "+a.add(x)+`::text COLLATE "C"`
	case float64:
		typ, expr = "number", "("+text+")::float8 "+sqlOp+" "+a.add(x)+"::float8"
	case bool:
		// Match orders booleans only as equal or not: gt is "not
		// equal", gte always holds, lt never, lte is "equal".
		b := "(" + text + ")::boolean"
		switch op {
		case "eq", "lte":
			expr = b + " = " + a.add(x) + "::boolean"
		case "gt":
			expr = b + " <> " + a.add(x) + "::boolean"
		case "gte":
			expr = "true"
		default: // lt
			expr = "false"
		}
		typ = "boolean"
	default:
		return "", fmt.Errorf("filter: a value of type %T", v)
	}
	return "coalesce(CASE WHEN jsonb_typeof(" + attr + ") = '" + typ + "' THEN " + expr + " END, false)", nil
}
