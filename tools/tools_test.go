package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

const body = `{"model":"m","messages":[{"role":"user","content":"hi"}],
"tools":[{"type":"function","function":{"name":"search_web","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}},
{"type":"function","function":{"name":"shell"}},{"type":"web_search"}],
"tool_choice":"auto","parallel_tool_calls":true,"temperature":0}`

func TestAllowlists(t *testing.T) {
	as := Allowlists{{"search_*", "shell"}, nil, {"search_web", "shell", "crm.*"}}
	for name, want := range map[string]bool{"search_web": true, "shell": true, "search_news": false, "crm.get": false, "": false} {
		if got := as.Allows(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
	if !(Allowlists{nil, nil}).Allows("anything") || (Allowlists{nil}).Set() {
		t.Error("unset lists allow everything and are not set")
	}
	if (Allowlist{"[bad"}).Allows("[bad") != true || (Allowlist{"[bad*"}).Allows("[badx") {
		t.Error("a malformed glob matches only itself")
	}
}

func TestGovernRemoves(t *testing.T) {
	out, r, err := Govern([]byte(body), Allowlists{{"search_*", "web_search"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Removed, ",") != "shell" || len(r.Declared) != 2 || r.Declared["search_web"] == nil {
		t.Errorf("%+v", r)
	}
	var b map[string]json.RawMessage
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b["tools"]), "shell") || string(b["tool_choice"]) != `"auto"` || string(b["temperature"]) != "0" {
		t.Errorf("body %s", out)
	}
	// Every tool removed: tools, tool_choice and parallel_tool_calls go.
	out, _, err = Govern([]byte(body), Allowlists{{"nothing"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"tools"`, `"tool_choice"`, `"parallel_tool_calls"`} {
		if strings.Contains(string(out), k) {
			t.Errorf("%s left in %s", k, out)
		}
	}
	// Nothing removed: the body is the same bytes.
	same, _, _ := Govern([]byte(body), nil, false)
	if string(same) != body {
		t.Error("body rewritten with nothing removed")
	}
}

func TestGovernRefuses(t *testing.T) {
	_, _, err := Govern([]byte(body), Allowlists{{"search_*"}}, true)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != CodeNotAllowed || e.Tool != "shell" || e.Param != "tools" {
		t.Fatalf("%v", err)
	}
	_, _, err = Govern([]byte(`{"functions":[{"name":"f"},{"name":"g"}],"function_call":{"name":"g"}}`), Allowlists{{"f"}}, false)
	if !errors.As(err, &e) || e.Param != "function_call" {
		t.Fatalf("forcing a removed function: %v", err)
	}
	for _, bad := range []string{`{"tools":{}}`, `{"tools":[{"type":"function"}]}`, `{"tools":[{"type":1}]}`, `{"functions":[{}]}`} {
		if _, _, err := Govern([]byte(bad), nil, false); !errors.As(err, &e) || e.Code != CodeToolsMalformed {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func answer(calls ...string) []byte {
	return []byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[` + strings.Join(calls, ",") + `]},"finish_reason":"tool_calls"}]}`)
}

func tc(id, name, args string) string {
	q, _ := json.Marshal(args)
	return `{"id":"` + id + `","type":"function","function":{"name":"` + name + `","arguments":` + string(q) + `}}`
}

func TestCheckCalls(t *testing.T) {
	_, r, _ := Govern([]byte(body), Allowlists{{"search_web"}}, false)
	p := New(config.ModelTools{ValidateArguments: true, MaxCalls: 2}, config.ModelResponseFormat{})
	a, err := Read(answer(tc("1", "search_web", `{"q":"x"}`), tc("2", "search_web", `{"q":1}`), tc("3", "shell", `{}`),
		tc("4", "nope", `{}`), tc("5", "search_web", `{"q"`)))
	if err != nil {
		t.Fatal(err)
	}
	vs := p.CheckCalls(r, a.Calls)
	var got []string
	for _, v := range vs {
		got = append(got, v.Call.ID+":"+v.Code)
	}
	want := "2:tool_call_invalid,3:tool_call_not_allowed,3:tool_calls_exceeded,4:tool_call_not_allowed,5:tool_call_invalid"
	if strings.Join(got, ",") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
	if !strings.Contains(vs[1].Reason, "not allowed") || !strings.Contains(vs[3].Reason, "does not declare") {
		t.Errorf("reasons %+v", vs)
	}
	if e := AnswerError(vs, true); e.Status != 502 || e.Code != CodeCallInvalid || !e.Reasked || strings.Contains(e.Message, `"q":1`) {
		t.Errorf("%+v", e)
	}
}

// A $ref to a file or URL is never followed: the schema does not compile
// and the call is invalid.
func TestSchemaLoadsNothing(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s.json")
	if err := os.WriteFile(f, []byte(`{"type":"object"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"file://" + f, "http://127.0.0.1:1/s.json"} {
		if _, err := compile([]byte(`{"$ref":"` + ref + `"}`)); err == nil {
			t.Errorf("%s was loaded", ref)
		}
	}
	if s, err := compile([]byte(`{"$defs":{"n":{"type":"integer"}},"$ref":"#/$defs/n"}`)); err != nil || validate(s, `1`) != "" || validate(s, `"x"`) == "" {
		t.Errorf("a local $ref: %v", err)
	}
}

func TestCheckFormatAndReask(t *testing.T) {
	b := `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object","required":["n"]}}}}`
	_, r, err := Govern([]byte(b), nil, false)
	if err != nil || r.Format == nil {
		t.Fatal(err, r)
	}
	a, _ := Read([]byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"m\":1}"},"finish_reason":"stop"}]}`))
	vs := r.CheckFormat(a)
	if len(vs) != 1 || vs[0].Code != CodeFormatInvalid {
		t.Fatalf("%+v", vs)
	}
	req := &llm.ChatRequest{Messages: []llm.Message{{Role: "user", Content: "hi"}}, Body: []byte(b)}
	again, err := Reask(req, a, vs)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Messages) != 1 || len(again.Messages) != 3 || again.Messages[1].Content != `{"m":1}` || again.Messages[2].Role != "user" {
		t.Errorf("%+v", again.Messages)
	}
	var wire struct {
		Messages       []map[string]any `json:"messages"`
		ResponseFormat json.RawMessage  `json:"response_format"`
	}
	if err := json.Unmarshal(again.Body, &wire); err != nil || len(wire.Messages) != 3 || wire.ResponseFormat == nil {
		t.Errorf("%v %s", err, again.Body)
	}
	if ok, _ := Read([]byte(`{"choices":[{"index":0,"message":{"content":"{\"n\":1}"}}]}`)); len(r.CheckFormat(ok)) != 0 {
		t.Error("a valid answer failed")
	}
}

func FuzzGovern(f *testing.F) {
	f.Add([]byte(body), "search_*")
	f.Add([]byte(`{"functions":[{"name":"f"}],"function_call":{"name":"f"}}`), "g")
	f.Fuzz(func(t *testing.T, b []byte, pattern string) {
		out, r, err := Govern(b, Allowlists{{pattern}}, false)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("not a 400: %v", err)
			}
			return
		}
		for _, name := range r.Removed {
			if (Allowlist{pattern}).Allows(name) {
				t.Fatalf("removed an allowed tool %q", name)
			}
		}
		if len(r.Removed) > 0 {
			again, r2, err := Govern(out, Allowlists{{pattern}}, false)
			if err != nil || len(r2.Removed) != 0 || string(again) != string(out) {
				t.Fatalf("governing twice changed it: %v %v", err, r2.Removed)
			}
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add(answer(tc("1", "f", `{"a":1}`)))
	f.Add([]byte(`{"choices":[{"index":3,"message":{"content":"x","function_call":{"name":"f","arguments":"{"}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(b)
		if err != nil {
			return
		}
		p := New(config.ModelTools{ValidateArguments: true, MaxCalls: 1}, config.ModelResponseFormat{})
		r := &Request{Declared: map[string]json.RawMessage{"f": json.RawMessage(`{"type":"object"}`)}}
		p.CheckCalls(r, a.Calls)
	})
}

// A schema is compiled once for every request that sends the same text,
// and the compiled schema validates from many requests at once.
func TestCompiledSchemasAreSharedAcrossRequests(t *testing.T) {
	raw := []byte(`{"type":"object","properties":{"q":{"type":"string","minLength":2}},"required":["q"]}`)
	a, b := compileCached(raw), compileCached(append([]byte(nil), raw...))
	if a.err != nil || a.s == nil || a.s != b.s {
		t.Fatalf("the same schema text compiled twice: %p %p (%v)", a.s, b.s, a.err)
	}
	if c := compileCached([]byte(`{"type":"object","required":["x"]}`)); c.s == a.s {
		t.Fatal("another schema's text got the first one's compiled schema")
	}
	bad := compileCached([]byte(`{"type":"nonsense"}`))
	if bad.err == nil || compileCached([]byte(`{"type":"nonsense"}`)).err == nil {
		t.Fatal("an invalid schema compiled")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				ok, bad := fmt.Sprintf(`{"q":"v%d-%d"}`, i, j), `{"q":"x"}`
				if why := validate(a.s, ok); why != "" {
					t.Errorf("%s: %s", ok, why)
				}
				if validate(a.s, bad) == "" {
					t.Errorf("%s validated", bad)
				}
			}
		})
	}
	wg.Wait()
}
