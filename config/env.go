package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in one scalar value.
// ${VAR:-default} uses default when VAR is unset or empty; ${VAR} with VAR
// unset is a problem. $${ is a literal ${. A $ not followed by { is kept as
// it is. It reports whether s held any reference, the problems found,
// which never repeat s: it may be a secret, and the variables among them
// that are merely unset.
func expandEnv(s string, lookup func(string) (string, bool)) (out string, expanded bool, problems, unset []string) {
	if !strings.Contains(s, "${") {
		return s, false, nil, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' {
			// "$${" is an escaped "${".
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		expanded = true
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			problems = append(problems, "unterminated ${: write ${VAR} or ${VAR:-default}, and $${ for a literal ${")
			break
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			// The reference is not repeated: the value may be a secret.
			problems = append(problems, "invalid environment variable reference: in ${VAR}, VAR is letters, digits and _, not starting with a digit")
			continue
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			problems = append(problems, fmt.Sprintf("environment variable %s is not set (write ${%s:-default} for a default)", name, name))
			unset = append(unset, name)
		}
		b.WriteString(v)
	}
	return b.String(), expanded, problems, unset
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
