package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxLines is the most requests one batch holds (OpenAI's limit).
const MaxLines = 50000

// maxErrors is the most problems a failed validation lists.
const maxErrors = 100

// Parse reads an input file of requests to endpoint: one JSON object a
// line, {custom_id, method: POST, url: endpoint, body}, blank lines
// skipped. It returns the lines, or the problems found (each with its
// line number, from 1), as OpenAI lists them on a batch that failed
// validation.
func Parse(content []byte, endpoint string) ([]Line, []LineError) {
	var lines []Line
	var errs []LineError
	add := func(n int, code, param, format string, a ...any) {
		if len(errs) < maxErrors {
			e := LineError{Code: code, Message: fmt.Sprintf(format, a...), Line: &n}
			if param != "" {
				e.Param = &param
			}
			errs = append(errs, e)
		}
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(nil, len(content)+1)
	n := 0
	for sc.Scan() {
		n++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var l struct {
			CustomID *string         `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			add(n, "invalid_json_line", "", "line %d is not a JSON object of a request: %v", n, err)
			continue
		}
		switch {
		case l.CustomID == nil || *l.CustomID == "":
			add(n, "missing_required_parameter", "custom_id", "line %d has no custom_id", n)
			continue
		case l.Method != "POST":
			add(n, "invalid_method", "method", "line %d: method must be POST, got %q", n, l.Method)
			continue
		case l.URL != endpoint:
			add(n, "mismatched_url", "url", "line %d: url must be the batch's endpoint %s, got %q", n, endpoint, l.URL)
			continue
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(l.Body, &body); err != nil || body == nil {
			add(n, "invalid_request", "body", "line %d: body must be a JSON object of a request to %s", n, endpoint)
			continue
		}
		if s, ok := body["stream"]; ok && string(s) == "true" {
			add(n, "invalid_request", "body.stream", "line %d: a batch's requests cannot stream", n)
			continue
		}
		if first, dup := seen[*l.CustomID]; dup {
			add(n, "duplicate_custom_id", "custom_id", "line %d: custom_id %q is the custom_id of line %d too; each must be unique", n, *l.CustomID, first)
			continue
		}
		seen[*l.CustomID] = n
		lines = append(lines, Line{Index: len(lines), CustomID: *l.CustomID, URL: l.URL, Body: l.Body})
	}
	if err := sc.Err(); err != nil {
		add(n+1, "invalid_json_line", "", "the file cannot be read as lines: %v", err)
	}
	if len(errs) == 0 && len(lines) == 0 {
		errs = append(errs, LineError{Code: "empty_file", Message: "the input file has no requests"})
	}
	if len(lines) > MaxLines {
		errs = append(errs, LineError{Code: "too_many_requests", Message: fmt.Sprintf("the input file has %d requests; a batch may hold %d", len(lines), MaxLines)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return lines, nil
}
