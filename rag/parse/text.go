package parse

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// parsePlain splits text into paragraphs at blank lines.
func parsePlain(s string) []Block {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	var b builder
	for p := range strings.SplitSeq(s, "\n\n") {
		b.add(Paragraph, strings.Trim(p, "\n"))
	}
	return b.blocks
}

// csvRows is the most rows in one table block; each block repeats the
// header so that a chunk of a long table keeps its column names.
const csvRows = 50

// parseCSV reads comma-, semicolon- or tab-separated values into Markdown
// tables of at most csvRows rows. Text that is not valid CSV is kept as
// plain text.
func parseCSV(s string) ([]Block, error) {
	s = strings.TrimPrefix(s, "\uFEFF")
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = delimiter(s)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return parsePlain(s), nil
	}
	var b builder
	header := rows[0]
	for i := 1; i < len(rows) || i == 1; i += csvRows {
		part := [][]string{append([]string(nil), header...)}
		for _, row := range rows[i:min(i+csvRows, len(rows))] {
			part = append(part, row)
		}
		b.add(Table, table(part))
	}
	return b.blocks, nil
}

// delimiter guesses the separator from the first line.
func delimiter(s string) rune {
	line, _, _ := strings.Cut(s, "\n")
	best, n := ',', strings.Count(line, ",")
	for _, c := range []rune{';', '\t', '|'} {
		if k := strings.Count(line, string(c)); k > n {
			best, n = c, k
		}
	}
	return best
}

// parseJSON flattens JSON into "path: value" lines, one block per element
// of a top-level array or per member of a top-level object.
func parseJSON(s string) ([]Block, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, &Error{Format: JSON, Kind: ErrMalformed, Detail: err.Error(), Err: err}
	}
	var b builder
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			var lines []string
			flatten(fmt.Sprintf("[%d]", i), e, &lines)
			b.add(Paragraph, strings.Join(lines, "\n"))
		}
	case map[string]any:
		for _, k := range sortedKeys(t) {
			var lines []string
			flatten(k, t[k], &lines)
			b.add(Paragraph, strings.Join(lines, "\n"))
		}
	default:
		var lines []string
		flatten("", v, &lines)
		b.add(Paragraph, strings.Join(lines, "\n"))
	}
	return b.blocks, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func flatten(path string, v any, lines *[]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			flatten(join(k), t[k], lines)
		}
	case []any:
		for i, e := range t {
			flatten(fmt.Sprintf("%s[%d]", path, i), e, lines)
		}
	case nil:
	case string:
		if strings.TrimSpace(t) != "" {
			*lines = append(*lines, strings.TrimPrefix(path+": ", ": ")+oneLine(t))
		}
	default:
		*lines = append(*lines, strings.TrimPrefix(path+": ", ": ")+fmt.Sprint(t))
	}
}
