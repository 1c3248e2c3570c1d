package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder is a strict YAML decoder for the schema: it walks the yaml.Node
// tree against the Go types by reflection so that every problem (an unknown
// key, a value of the wrong type, a duplicate key, an unset environment
// variable) is reported with its path and line, and decoding goes on after
// one. It records the line of every field it sets.
type decoder struct {
	lookupEnv func(string) (string, bool)
	problems  Problems
	lines     map[string]int
	// covered are the paths whose problems Validate need not repeat: values
	// that could not be decoded, and fields suggested for unknown ones (a
	// misspelt field is reported once, not again as missing).
	covered []string

	// aliases are the anchors being expanded, to stop one that contains
	// itself; aliasWork counts the nodes decoded through aliases, to stop a
	// document that multiplies itself by nesting them.
	aliases   []*yaml.Node
	aliasWork int
	tooMuch   bool
}

// maxAliasWork bounds the nodes decoded through aliases. A configuration
// that uses anchors to share a few settings stays far below it.
const maxAliasWork = 100_000

// problem reports that the value at path could not be decoded.
func (d *decoder) problem(path string, line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
	d.covered = append(d.covered, path)
}

var (
	durationType    = reflect.TypeFor[Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// value decodes n into v, which must be settable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.alias(n, v, path)
		return
	}
	if !d.work(n, path) {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value leaves the field at its zero value, "the default"
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, v, path)
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		d.unmarshaler(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path)
	default:
		d.scalar(n, v, path)
	}
}

// work counts one node decoded through an alias and reports whether the
// document is still within maxAliasWork.
func (d *decoder) work(n *yaml.Node, path string) bool {
	if len(d.aliases) == 0 {
		return true
	}
	d.aliasWork++
	if d.aliasWork <= maxAliasWork {
		return true
	}
	if !d.tooMuch {
		d.tooMuch = true
		d.problem(path, n.Line, "the document expands too many aliases")
	}
	return false
}

func (d *decoder) alias(n *yaml.Node, v reflect.Value, path string) {
	target := n.Alias
	if target == nil {
		d.problem(path, n.Line, "unknown alias *%s", n.Value)
		return
	}
	for _, a := range d.aliases {
		if a == target {
			d.problem(path, n.Line, "alias *%s contains itself", n.Value)
			return
		}
	}
	d.aliases = append(d.aliases, target)
	d.value(target, v, path)
	d.aliases = d.aliases[:len(d.aliases)-1]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return fmt.Sprintf("%q", n.Value)
}

// pair is one key and value of a mapping, with merge keys (<<: *base)
// flattened in.
type pair struct {
	key, value *yaml.Node
	merged     bool
}

// pairs returns a mapping's entries: its own first, then those merged in
// with <<, which its own override (checked by the caller). It reports
// duplicate keys among its own entries.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			if first, dup := seen[k.Value]; dup {
				// The first entry is decoded and validated; this one is not.
				d.problems = append(d.problems, Problem{Path: childKey(path, k.Value), Line: k.Line,
					Message: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first)})
				continue
			}
			seen[k.Value] = k.Line
		}
		own = append(own, pair{key: k, value: val})
	}
	return append(own, merged...)
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// mergeSources returns the entries a merge key brings in: from one mapping
// or alias of a mapping, or from a list of them (earlier ones win).
func (d *decoder) mergeSources(val *yaml.Node, path string) []pair {
	deref := func(n *yaml.Node) *yaml.Node {
		for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
			n = n.Alias
		}
		return n
	}
	var srcs []*yaml.Node
	switch m := deref(val); {
	case m != nil && m.Kind == yaml.MappingNode:
		srcs = append(srcs, m)
	case m != nil && m.Kind == yaml.SequenceNode:
		for _, e := range m.Content {
			if e := deref(e); e != nil && e.Kind == yaml.MappingNode {
				srcs = append(srcs, e)
				continue
			}
			d.problem(childKey(path, "<<"), val.Line, "a merge key takes a mapping or a list of mappings")
			return nil
		}
	default:
		d.problem(childKey(path, "<<"), val.Line, "a merge key takes a mapping or a list of mappings")
		return nil
	}
	var out []pair
	for _, m := range srcs {
		if !d.work(m, path) {
			return out
		}
		for _, a := range d.aliases {
			if a == m {
				d.problem(childKey(path, "<<"), val.Line, "merged mapping contains itself")
				return nil
			}
		}
		d.aliases = append(d.aliases, m)
		for _, p := range d.pairs(m, path) {
			if !d.work(p.key, path) {
				break
			}
			p.merged = true
			out = append(out, p)
		}
		d.aliases = d.aliases[:len(d.aliases)-1]
	}
	return out
}

// fields maps the YAML names of a struct's fields to their indexes.
func fields(t reflect.Type) (byName map[string][]int, names []string) {
	byName = map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			inner, _ := fields(f.Type)
			for n, idx := range inner {
				byName[n] = append([]int{i}, idx...)
				names = append(names, n)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		byName[name] = []int{i}
		names = append(names, name)
	}
	sort.Strings(names)
	return byName, names
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(path, n.Line, "expected a mapping of settings, got %s", kindName(n))
		return
	}
	byName, names := fields(v.Type())
	set := map[string]bool{}
	for _, p := range d.pairs(n, path) {
		if p.key.Kind != yaml.ScalarNode {
			d.problem(path, p.key.Line, "a key must be a plain name, got %s", kindName(p.key))
			continue
		}
		name := p.key.Value
		if p.merged && set[name] {
			continue
		}
		set[name] = true
		fp := childKey(path, name)
		idx, ok := byName[name]
		if !ok {
			d.problem(fp, p.key.Line, "unknown field %q%s", name, didYouMean(name, names))
			if hint := suggest(name, names); hint != "" {
				d.covered = append(d.covered, childKey(path, hint))
			}
			continue
		}
		if !p.merged {
			d.lines[fp] = p.key.Line
		}
		d.value(p.value, v.FieldByIndex(idx), fp)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(path, n.Line, "expected a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	set := map[string]bool{}
	for _, p := range d.pairs(n, path) {
		if p.key.Kind != yaml.ScalarNode {
			d.problem(path, p.key.Line, "a key must be a plain name, got %s", kindName(p.key))
			continue
		}
		if p.merged && set[p.key.Value] {
			continue
		}
		set[p.key.Value] = true
		fp := childKey(path, p.key.Value)
		key := reflect.New(t.Key()).Elem()
		if !d.key(p.key, key, fp) {
			continue
		}
		if !p.merged {
			d.lines[fp] = p.key.Line
		}
		elem := reflect.New(t.Elem()).Elem()
		d.value(p.value, elem, fp)
		v.SetMapIndex(key, elem)
	}
}

// key decodes a mapping key. Keys are taken as written: environment
// variables are not expanded in them. A key of another type than string
// may be quoted: "500": 0.1 is the status 500.
func (d *decoder) key(n *yaml.Node, v reflect.Value, path string) bool {
	if v.Kind() == reflect.String {
		v.SetString(n.Value)
		return true
	}
	plain := *n
	if n.Style&yaml.TaggedStyle == 0 {
		plain.Tag = ""
		plain.Style = 0
	}
	if err := plain.Decode(v.Addr().Interface()); err != nil {
		d.problem(path, n.Line, "invalid key %q: expected %s", n.Value, typeName(v.Type()))
		return false
	}
	return true
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problem(path, n.Line, "expected a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		ep := childIndex(path, i)
		d.lines[ep] = e.Line
		d.value(e, s.Index(i), ep)
	}
	v.Set(s)
}

// text returns a scalar's value with environment variables expanded, and
// the node to decode it from. When a scalar held a reference, its type is
// resolved again from the expanded text, as if that text had been written
// there unquoted, so that rpm: ${RPM} and rpm: "${RPM}" (quoted, as a flow
// mapping needs) are numbers; an explicit tag (!!str ${X}) is kept.
// Expansion never produces YAML structure: the result is one scalar.
func (d *decoder) text(n *yaml.Node, path string) (*yaml.Node, bool) {
	out, expanded, probs, unset := expandEnv(n.Value, d.lookupEnv)
	for _, p := range probs {
		d.problem(path, n.Line, "%s", p)
	}
	if len(probs) == len(unset) {
		// Each problem is an unset variable, and nothing else.
		for i := range unset {
			d.problems[len(d.problems)-len(unset)+i].Unset = unset[i]
		}
	}
	if len(probs) > 0 {
		return nil, false
	}
	if out == n.Value {
		return n, true
	}
	c := *n
	c.Value = out
	if expanded && n.Style&yaml.TaggedStyle == 0 {
		c.Tag = ""
		c.Style &^= yaml.SingleQuotedStyle | yaml.DoubleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	}
	return &c, true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.problem(path, n.Line, "expected a duration like \"750ms\", got %s", kindName(n))
		return
	}
	s, ok := d.text(n, path)
	if !ok {
		return
	}
	if s.ShortTag() != "!!str" {
		d.problem(path, n.Line, "a duration must be a string with a unit, like \"750ms\" or \"30s\", got %s", s.Value)
		return
	}
	dur, err := parseDuration(s.Value)
	if err != nil {
		d.problem(path, n.Line, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(dur))
}

func (d *decoder) unmarshaler(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		s, ok := d.text(n, path)
		if !ok {
			return
		}
		n = s
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.problem(path, n.Line, "%s", yamlMessage(err))
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.problem(path, n.Line, "expected %s, got %s", typeName(t), kindName(n))
		return
	}
	s, ok := d.text(n, path)
	if !ok {
		return
	}
	tag := s.ShortTag()
	switch t.Kind() {
	case reflect.String:
		// Any scalar is text: api_key: 0123 is the string "0123".
		v.SetString(s.Value)
		return
	case reflect.Bool:
		ok = tag == "!!bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		ok = tag == "!!int"
	case reflect.Float32, reflect.Float64:
		ok = tag == "!!int" || tag == "!!float"
	default:
		ok = true
	}
	if ok {
		ok = s.Decode(v.Addr().Interface()) == nil
	}
	if !ok {
		d.problem(path, n.Line, "expected %s, got %q", typeName(t), s.Value)
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?(?:unmarshal errors:\s*)?line (\d+): `)

// yamlMessage strips the "yaml: line N:" decoration from a YAML error; the
// line is reported separately.
func yamlMessage(err error) string {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		msg = msg[m[1]:]
	}
	return strings.TrimPrefix(msg, "yaml: ")
}
