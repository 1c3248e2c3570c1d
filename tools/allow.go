package tools

import "path"

// Allowlist is a list of tool names and globs (path.Match syntax). A nil
// or empty Allowlist is unset: it allows every tool.
type Allowlist []string

// Allows reports whether name matches one of the list's patterns, or the
// list is unset. A malformed pattern matches nothing.
func (a Allowlist) Allows(name string) bool {
	if len(a) == 0 {
		return true
	}
	for _, p := range a {
		if p == name {
			return true
		}
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// Allowlists is the intersection of allowlists: a tool is allowed when
// every one of them allows it (an unset one allows all).
type Allowlists []Allowlist

// Allows reports whether every list allows name.
func (as Allowlists) Allows(name string) bool {
	for _, a := range as {
		if !a.Allows(name) {
			return false
		}
	}
	return true
}

// Set reports whether any list is set.
func (as Allowlists) Set() bool {
	for _, a := range as {
		if len(a) > 0 {
			return true
		}
	}
	return false
}
