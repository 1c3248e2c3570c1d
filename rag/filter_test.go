package rag_test

import (
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/rag"
)

func TestFilter(t *testing.T) {
	attrs := map[string]any{"team": "data", "year": 2026.0, "public": true}
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{`{"type":"eq","key":"team","value":"data"}`, true},
		{`{"type":"ne","key":"team","value":"data"}`, false},
		{`{"type":"ne","key":"absent","value":"x"}`, true},
		{`{"type":"gt","key":"year","value":2025}`, true},
		{`{"type":"lte","key":"year","value":2025}`, false},
		{`{"type":"gte","key":"team","value":"d"}`, true},
		{`{"type":"eq","key":"year","value":"2026"}`, false},
		{`{"type":"in","key":"team","value":["ops","data"]}`, true},
		{`{"type":"nin","key":"team","value":["ops","data"]}`, false},
		{`{"type":"eq","key":"public","value":true}`, true},
		{`{"type":"and","filters":[{"type":"eq","key":"team","value":"data"},{"type":"lt","key":"year","value":2026}]}`, false},
		{`{"type":"or","filters":[{"type":"eq","key":"team","value":"ops"},{"type":"eq","key":"public","value":true}]}`, true},
	} {
		f, err := rag.ParseFilter([]byte(c.filter))
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if got := f.Match(attrs); got != c.want {
			t.Errorf("%s: %v, want %v", c.filter, got, c.want)
		}
	}
	for _, c := range []struct{ filter, want string }{
		{`{"type":"like","key":"a","value":"b"}`, "filters.type"},
		{`{"type":"eq","value":"b"}`, "filters.key"},
		{`{"type":"eq","key":"a"}`, "filters.value"},
		{`{"type":"in","key":"a","value":"b"}`, "list of values"},
		{`{"type":"eq","key":"a","value":{"x":1}}`, "filters.value"},
		{`{"type":"and","filters":[{"type":"eq"}]}`, "filters.filters[0].key"},
		{`[1]`, "must be an object"},
		{strings.Repeat(`{"type":"and","filters":[`, 20) + `{"type":"eq","key":"a","value":1}` + strings.Repeat(`]}`, 20), "nest deeper"},
	} {
		if _, err := rag.ParseFilter([]byte(c.filter)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %s", c.filter, err, c.want)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	f.Add(`{"type":"eq","key":"team","value":"data"}`)
	f.Add(`{"type":"or","filters":[{"type":"in","key":"a","value":[1,"x",true]}]}`)
	f.Add(`{"type":"and","filters":[]}`)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := rag.ParseFilter([]byte(s))
		if err != nil {
			return
		}
		_ = flt.Match(map[string]any{"team": "data", "a": 1.0, "x": true})
		_ = flt.Match(nil)
	})
}
