package tools

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// maxReason bounds the text of a validation failure, in bytes.
const maxReason = 300

// compiled is a compiled schema, or why it could not be compiled.
type compiled struct {
	s   *jsonschema.Schema
	err error
}

// Compiled schemas are kept across requests, by the SHA-256 of the
// schema's text: clients send the same tool definitions with every
// request, and compiling is most of what checking an answer costs. A
// compiled schema is immutable and validates from many goroutines at
// once. Schemas larger than maxCachedSchema are compiled per request, so
// the cache holds at most schemaCacheEntries × maxCachedSchema of source.
const (
	schemaCacheEntries = 512
	maxCachedSchema    = 32 << 10
)

var schemaCache, _ = lru.New[[sha256.Size]byte, compiled](schemaCacheEntries)

// compileCached is compile through the cross-request cache. A schema that
// fails to compile is cached too: the same text fails the same way.
func compileCached(raw []byte) compiled {
	if len(raw) > maxCachedSchema {
		s, err := compile(raw)
		return compiled{s: s, err: err}
	}
	key := sha256.Sum256(raw)
	if c, ok := schemaCache.Get(key); ok {
		return c
	}
	s, err := compile(raw)
	c := compiled{s: s, err: err}
	schemaCache.Add(key, c)
	return c
}

// compile compiles a client's schema with no loader: a $ref may point
// only inside the schema (a file or URL it names fails to compile).
func compile(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{}) // no files, no network
	const loc = "bulwark:schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("the schema is invalid: %s", clip(err.Error()))
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("the schema is invalid: %s", clip(err.Error()))
	}
	return s, nil
}

// validate checks the JSON text v against s; it returns why it does not
// match, "" when it does.
func validate(s *jsonschema.Schema, v string) string {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(v))
	if err != nil {
		return "not valid JSON"
	}
	if err := s.Validate(inst); err != nil {
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			return clip(leafReasons(ve))
		}
		return clip(err.Error())
	}
	return ""
}

// leafReasons lists the innermost failures of a validation error: where
// in the value and what is wrong, without the value itself.
func leafReasons(ve *jsonschema.ValidationError) string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			out = append(out, fmt.Sprintf("at %s: %s", loc, e.ErrorKind.LocalizedString(printer)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return strings.Join(out, "; ")
}

func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

var printer = message.NewPrinter(language.English)
