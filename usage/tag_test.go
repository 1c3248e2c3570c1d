package usage

import (
	"strings"
	"testing"
)

func TestParseGroupTag(t *testing.T) {
	for s, ok := range map[string]bool{
		"tag:team": true, "tag:cost/centre": true, "tag:a.b_c:d-e": true,
		"tag:": false, "tag:-x": false, `tag:te"am`: false, "tag:" + strings.Repeat("a", 64): true, "tag:" + strings.Repeat("a", 65): false, "tags:team": false,
	} {
		g, err := ParseGroup(s)
		if (err == nil) != ok {
			t.Errorf("ParseGroup(%q) = %q, %v; want ok %v", s, g, err, ok)
		}
		if k, is := g.TagKey(); ok && (!is || "tag:"+k != s) {
			t.Errorf("ParseGroup(%q).TagKey() = %q, %v", s, k, is)
		}
	}
}
