package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration: where (a path such as
// models[2].targets[0].provider, and the line in the file when the
// configuration came from one, else 0) and what.
type Problem struct {
	Path    string
	Line    int
	Message string
	// Unset is the environment variable a ${VAR} reference names when the
	// problem is only that it is not set ("" for any other problem), so
	// that a check of a file away from its environment can tell it apart.
	Unset string
}

// String formats the problem as "path (line N): message", leaving out
// what is unknown.
func (p Problem) String() string {
	switch {
	case p.Path != "" && p.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Message)
	case p.Path != "":
		return p.Path + ": " + p.Message
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return p.Message
}

// Problems is every problem found in a configuration. It is the error
// returned by Parse, Load and Validate; errors.As finds it.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// err returns ps as an error, or nil when there is no problem.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// sortByLine orders problems by line, keeping the order they were found in
// among equal lines; problems without a line go last.
func (ps Problems) sortByLine() {
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
}

// childKey appends a mapping key to a path: "providers" + "openai" is
// providers.openai; a key that would make the path ambiguous is quoted:
// providers["a b"].
func childKey(path, key string) string {
	if key == "" || !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// childIndex appends a sequence index to a path: models[2].
func childIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parentPath removes the last element of a path: models[2].targets[0] has
// parent models[2].targets, whose parent is models[2], then models, then "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		// The index or quoted key may itself hold '[', so find the bracket
		// that opens it by scanning a quoted key when there is one.
		if i := strings.LastIndex(path, "[\""); i >= 0 && strings.HasSuffix(path, "\"]") {
			if _, err := strconv.Unquote(path[i+1 : len(path)-1]); err == nil {
				return path[:i]
			}
		}
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lineOf returns the line of path in the file, or of its nearest ancestor
// that the file holds (a missing field is reported where its parent is);
// 0 when the Config was not parsed from a file.
func lineOf(lines map[string]int, path string) int {
	if lines == nil {
		return 0
	}
	for p := path; p != ""; p = parentPath(p) {
		if n, ok := lines[p]; ok {
			return n
		}
	}
	return 0
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo, else "".
func suggest(s string, candidates []string) string {
	best, bestD := "", -1
	norm := func(x string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(x)) }
	for _, c := range candidates {
		if norm(c) == norm(s) || len(c) >= 3 && strings.HasPrefix(s, c) || len(s) >= 3 && strings.HasPrefix(c, s) {
			return c
		}
		d := editDistance(s, c)
		limit := max(1, min(len(s), len(c))/3)
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost one.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return max(len(a), len(b))
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// didYouMean formats a suggestion for a message, or "" when there is none.
func didYouMean(s string, candidates []string) string {
	if c := suggest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}
