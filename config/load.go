package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path and parses it with the process
// environment: see Parse. The content's problems are returned as Problems,
// without the file's name, which the caller adds.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, os.LookupEnv)
}

// Parse decodes a YAML configuration, fills in the defaults and validates
// it. ${VAR} and ${VAR:-default} in a value are replaced with the variable
// from lookupEnv (os.LookupEnv for the process environment; nil for none);
// they are expanded in each value after the YAML is parsed, so a variable
// cannot change the file's structure. Decoding is strict: an unknown key,
// a duplicate key, a value of the wrong type, a duration without a unit or
// an unset variable is a problem. The error, when there is one, is Problems
// holding every problem found, each with its path and line.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	root, problems := parseYAML(data)
	if problems != nil {
		return nil, problems
	}
	c := &Config{}
	d := &decoder{lookupEnv: lookupEnv, lines: map[string]int{}}
	if root != nil {
		d.value(root, reflect.ValueOf(c).Elem(), "")
	}
	c.lines = d.lines
	c.ApplyDefaults()

	problems = d.problems
	var invalid Problems
	errors.As(c.Validate(), &invalid)
	for _, p := range invalid {
		if !under(p.Path, d.covered) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		problems.sortByLine()
		return nil, problems
	}
	return c, nil
}

// under reports whether path is at or below one of paths: a value that
// could not be decoded is reported once, not again as invalid.
func under(path string, paths []string) bool {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// parseYAML parses data into the top-level node of its one document, nil
// when the document is empty.
func parseYAML(data []byte) (root *yaml.Node, problems Problems) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeNode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file: every default
		}
		return nil, Problems{yamlProblem(err)}
	}
	var extra yaml.Node
	switch err := decodeNode(dec, &extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Problems{yamlProblem(err)}
	default:
		return nil, Problems{{Line: extra.Line, Message: "the file holds more than one YAML document; write one"}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, Problems{{Line: root.Line, Message: "the file must be a mapping of settings (listen:, providers:, models: …)"}}
	}
	return root, nil
}

// decodeNode parses the next document. The YAML parser reports malformed
// input as an error; a panic from it on some input it does not expect is
// reported as an error too, since a configuration file must not crash the
// process that reads it.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlProblem(err error) Problem {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Message: "invalid YAML: " + m[2]}
	}
	return Problem{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
