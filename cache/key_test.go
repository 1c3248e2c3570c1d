package cache_test

import (
	"testing"

	"github.com/bulwark-ai/bulwark/cache"
)

func fingerprint(t *testing.T, body string) cache.Fingerprint {
	t.Helper()
	f, err := cache.Chat([]byte(body))
	if err != nil {
		t.Fatalf("Chat(%s): %v", body, err)
	}
	return f
}

func TestChatHashIsStableOverKeyOrderSpacingAndNumberForm(t *testing.T) {
	a := fingerprint(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"tools":[{"type":"function","function":{"name":"f","parameters":{"a":1,"b":2}}}]}`)
	for _, body := range []string{
		`{"temperature":0.0,"messages":[{"content":"hi","role":"user"}],"model":"m","tools":[{"function":{"parameters":{"b":2,"a":1},"name":"f"},"type":"function"}]}`,
		"{\n  \"messages\": [ {\"role\": \"user\", \"content\": \"hi\"} ],\n  \"temperature\": 0e0,\n  \"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"a\":1.0,\"b\":2}}}] }",
		// Fields that do not shape the answer are left out.
		`{"model":"other","stream":true,"stream_options":{"include_usage":true},"user":"u1","metadata":{"x":"y"},"store":true,"service_tier":"flex","safety_identifier":"s","prompt_cache_key":"p","messages":[{"role":"user","content":"hi"}],"temperature":0,"tools":[{"type":"function","function":{"name":"f","parameters":{"a":1,"b":2}}}]}`,
	} {
		if b := fingerprint(t, body); b.Hash != a.Hash {
			t.Errorf("hash differs for %s", body)
		}
	}
}

func TestChatHashSeparatesWhatShapesTheAnswer(t *testing.T) {
	base := `{"messages":[{"role":"user","content":"hi"}],"temperature":0}`
	seen := map[[32]byte]string{fingerprint(t, base).Hash: base}
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"hi!"}],"temperature":0}`,
		`{"messages":[{"role":"system","content":"hi"}],"temperature":0}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0.1}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":1}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":2}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"top_p":0.5}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"n":2}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":5}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"response_format":{"type":"json_object"}}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"tools":[]}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"tool_choice":"none"}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"stop":["x"]}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"logprobs":true}`,
		`{"messages":[{"role":"user","content":"hi"}],"temperature":0,"some_new_field":1}`,
		`{"messages":[{"role":"user","content":"hi"},{"role":"user","content":"hi"}],"temperature":0}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"temperature":0}`,
	} {
		h := fingerprint(t, body).Hash
		if prev, ok := seen[h]; ok {
			t.Errorf("%s hashes as %s", body, prev)
		}
		seen[h] = body
	}
}

func TestDeterministic(t *testing.T) {
	for body, want := range map[string]bool{
		`{"messages":[]}`:                          false,
		`{"messages":[],"temperature":0}`:          true,
		`{"messages":[],"temperature":0.0}`:        true,
		`{"messages":[],"temperature":0.7}`:        false,
		`{"messages":[],"temperature":null}`:       false,
		`{"messages":[],"seed":42}`:                true,
		`{"messages":[],"seed":null}`:              false,
		`{"messages":[],"temperature":1,"seed":0}`: true,
	} {
		if got := fingerprint(t, body).Deterministic; got != want {
			t.Errorf("Deterministic(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestChatRefusesWhatIsNotAnObject(t *testing.T) {
	for _, body := range []string{``, `[]`, `"x"`, `{"a":1} {"b":2}`, `{"a":`} {
		if _, err := cache.Chat([]byte(body)); err == nil {
			t.Errorf("Chat(%q) gave no error", body)
		}
	}
}

func TestKeySeparatesTenantAliasVersionAndMode(t *testing.T) {
	f := fingerprint(t, `{"messages":[],"temperature":0}`)
	base := cache.Key(cache.ModeChat, "acme", "chat", "sim/m", f)
	if cache.Key(cache.ModeChat, "acme", "chat", "sim/m", f) != base {
		t.Fatal("Key is not stable")
	}
	for _, k := range []string{
		cache.Key(cache.ModeStream, "acme", "chat", "sim/m", f),
		cache.Key(cache.ModeChat, "globex", "chat", "sim/m", f),
		cache.Key(cache.ModeChat, "acme", "chat2", "sim/m", f),
		cache.Key(cache.ModeChat, "acme", "chat", "sim/m2", f),
		// Fields are length-prefixed: moving a boundary is another key.
		cache.Key(cache.ModeChat, "acmec", "hat", "sim/m", f),
	} {
		if k == base {
			t.Errorf("key collides with the base key")
		}
	}
	if len(base) != 64 {
		t.Errorf("key %q is not 64 hex digits", base)
	}
}

func TestCanonical(t *testing.T) {
	got, err := cache.Canonical([]byte(` {"b": [1.50, 2e0, -0, 1e400], "a": {"y": null, "x": "<é>"}} `))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"x":"\u003cé\u003e","y":null},"b":[1.5,2,0,1e400]}`; string(got) != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
}

func FuzzChat(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":"hi"}],"temperature":0}`))
	f.Add([]byte(`{"a":[1,2.5,"x",null,true,{"b":{}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fp, err := cache.Chat(body)
		if err != nil {
			return
		}
		// The canonical form is a fixed point: hashing it again gives the
		// same hash.
		c, err := cache.Canonical(body)
		if err != nil {
			t.Fatalf("Chat accepted what Canonical refuses: %v", err)
		}
		fp2, err := cache.Chat(c)
		if err != nil || fp2.Hash != fp.Hash {
			t.Fatalf("canonical form %s hashes differently (%v)", c, err)
		}
	})
}
