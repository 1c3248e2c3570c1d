// Package prompttest is the conformance suite of prompt.Store: every
// backend passes the same tests (Run).
package prompttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/prompt"
)

// NewStore returns an empty store in which the given tenants exist.
type NewStore func(t *testing.T, tenants ...string) prompt.Store

var base = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// Run checks a prompt.Store.
func Run(t *testing.T, newStore NewStore) {
	t.Run("CreateAndRead", func(t *testing.T) { testCreateAndRead(t, newStore(t, "acme", "other")) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newStore(t, "acme")) })
	t.Run("Labels", func(t *testing.T) { testLabels(t, newStore(t, "acme")) })
	t.Run("TenantIsolation", func(t *testing.T) { testIsolation(t, newStore(t, "acme", "other")) })
	t.Run("ConcurrentVersions", func(t *testing.T) { testConcurrentVersions(t, newStore(t, "acme")) })
	t.Run("Cache", func(t *testing.T) { testCache(t, newStore(t, "acme", "other")) })
}

func temp(v float64) *float64 { return &v }
func maxTok(n int) *int       { return &n }

// template returns a template whose system message says text.
func template(text string) prompt.Template {
	return prompt.Template{
		Messages: []prompt.Message{
			{Role: "system", Content: text + " Answer in {{language}}."},
			{Role: "user", Content: "Ticket: {{ticket}}"},
		},
		Variables: []prompt.Variable{
			{Name: "ticket", Required: true, Description: "the ticket's text"},
			{Name: "language", Default: "English"},
		},
		Params: prompt.Params{Model: "chat", Temperature: temp(0.2), MaxTokens: maxTok(300),
			ResponseFormat: json.RawMessage(`{"type":"json_object"}`)},
	}
}

func version(tenantID, id string, n int, text string) prompt.Version {
	return prompt.Version{TenantID: tenantID, PromptID: id, Number: n, Template: template(text),
		Note: fmt.Sprintf("version %d: %s", n, text), CreatedAt: base.Add(time.Duration(n) * time.Minute), CreatedBy: "key_admin"}
}

func create(t *testing.T, s prompt.Store, tenantID, id string) prompt.Version {
	t.Helper()
	v := version(tenantID, id, 1, "You triage tickets.")
	p := prompt.Prompt{TenantID: tenantID, ID: id, Description: "Ticket triage ☃", CreatedAt: base, CreatedBy: "key_admin"}
	if err := s.CreatePrompt(t.Context(), p, v); err != nil {
		t.Fatalf("CreatePrompt(%s/%s): %v", tenantID, id, err)
	}
	return v
}

// checkVersion compares versions, times to the microsecond (what every
// backend keeps at least).
func checkVersion(t *testing.T, what string, got, want prompt.Version) {
	t.Helper()
	if d := got.CreatedAt.Sub(want.CreatedAt); d < -time.Microsecond || d > time.Microsecond || got.CreatedAt.Location() != time.UTC {
		t.Errorf("%s: created_at = %v; want %v in UTC", what, got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt = want.CreatedAt
	// Compare response_format as JSON values: a backend may respace it.
	var gf, wf any
	_ = json.Unmarshal(got.Params.ResponseFormat, &gf)
	_ = json.Unmarshal(want.Params.ResponseFormat, &wf)
	if !reflect.DeepEqual(gf, wf) {
		t.Errorf("%s: response_format = %s; want %s", what, got.Params.ResponseFormat, want.Params.ResponseFormat)
	}
	got.Params.ResponseFormat, want.Params.ResponseFormat = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n%+v\nwant\n%+v", what, got, want)
	}
}

func testCreateAndRead(t *testing.T, s prompt.Store) {
	ctx := t.Context()
	if ps, err := s.Prompts(ctx, ""); err != nil || len(ps) != 0 {
		t.Fatalf("Prompts of an empty store = %v, %v", ps, err)
	}
	v := create(t, s, "acme", "triage")
	p, err := s.Prompt(ctx, "acme", "triage")
	if err != nil {
		t.Fatal(err)
	}
	if p.TenantID != "acme" || p.ID != "triage" || p.Latest != 1 || p.Description != "Ticket triage ☃" ||
		p.CreatedBy != "key_admin" || len(p.Labels) != 0 || !p.CreatedAt.Round(time.Microsecond).Equal(base.Round(time.Microsecond)) {
		t.Errorf("Prompt = %+v", p)
	}
	got, err := s.PromptVersion(ctx, "acme", "triage", 1)
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, "version 1", got, v)

	// Ids are unique per tenant, not across tenants.
	err = s.CreatePrompt(ctx, prompt.Prompt{TenantID: "acme", ID: "triage", CreatedAt: base}, version("acme", "triage", 1, "again"))
	if !errors.Is(err, prompt.ErrExists) {
		t.Errorf("CreatePrompt of an existing id = %v; want ErrExists", err)
	}
	create(t, s, "other", "triage")
	err = s.CreatePrompt(ctx, prompt.Prompt{TenantID: "nobody", ID: "x", CreatedAt: base}, version("nobody", "x", 1, "x"))
	if !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("CreatePrompt in a missing tenant = %v; want ErrNotFound", err)
	}
	if ps, err := s.Prompts(ctx, ""); err != nil || len(ps) != 2 || ps[0].TenantID != "acme" || ps[1].TenantID != "other" {
		t.Errorf("Prompts(all) = %+v, %v", ps, err)
	}
	if ps, err := s.Prompts(ctx, "other"); err != nil || len(ps) != 1 || ps[0].TenantID != "other" {
		t.Errorf("Prompts(other) = %+v, %v", ps, err)
	}
	if _, err := s.Prompt(ctx, "acme", "nope"); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("Prompt(missing) = %v; want ErrNotFound", err)
	}
	if _, err := s.PromptVersion(ctx, "acme", "triage", 2); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("PromptVersion(missing) = %v; want ErrNotFound", err)
	}
	// A template without variables or parameters round-trips too.
	bare := prompt.Version{TenantID: "acme", PromptID: "bare", Template: prompt.Template{
		Messages: []prompt.Message{{Role: "system", Content: "Be brief."}}}, CreatedAt: base, CreatedBy: "key_a"}
	if err := s.CreatePrompt(ctx, prompt.Prompt{TenantID: "acme", ID: "bare", CreatedAt: base}, bare); err != nil {
		t.Fatal(err)
	}
	got, err = s.PromptVersion(ctx, "acme", "bare", 1)
	bare.Number = 1
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, "bare version", got, bare)
}

func testVersions(t *testing.T, s prompt.Store) {
	ctx := t.Context()
	want := []prompt.Version{create(t, s, "acme", "triage")}
	want[0].Number = 1
	for n := 2; n <= 3; n++ {
		v := version("acme", "triage", 0, fmt.Sprintf("Revision %d.", n))
		got, err := s.AddPromptVersion(ctx, v)
		if err != nil || got != n {
			t.Fatalf("AddPromptVersion = %d, %v; want %d", got, err, n)
		}
		v.Number = n
		want = append(want, v)
	}
	if p, _ := s.Prompt(ctx, "acme", "triage"); p.Latest != 3 {
		t.Errorf("latest = %d; want 3", p.Latest)
	}
	vs, err := s.PromptVersions(ctx, "acme", "triage")
	if err != nil || len(vs) != 3 {
		t.Fatalf("PromptVersions = %d, %v; want 3", len(vs), err)
	}
	for i := range vs {
		checkVersion(t, fmt.Sprintf("version %d", i+1), vs[i], want[i])
	}
	if _, err := s.AddPromptVersion(ctx, version("acme", "nope", 0, "x")); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("AddPromptVersion to a missing prompt = %v; want ErrNotFound", err)
	}
	if vs, err := s.PromptVersions(ctx, "acme", "nope"); err != nil || len(vs) != 0 {
		t.Errorf("PromptVersions(missing) = %v, %v; want none", vs, err)
	}
}

func testLabels(t *testing.T, s prompt.Store) {
	ctx := t.Context()
	create(t, s, "acme", "triage")
	if _, err := s.AddPromptVersion(ctx, version("acme", "triage", 0, "Second.")); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.SetPromptLabel(ctx, "acme", "triage", "production", 1); err != nil || prev != 0 {
		t.Fatalf("SetPromptLabel(production, 1) = %d, %v", prev, err)
	}
	if _, err := s.SetPromptLabel(ctx, "acme", "triage", "staging", 2); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.SetPromptLabel(ctx, "acme", "triage", "production", 2); err != nil || prev != 1 {
		t.Fatalf("moving production to 2 = %d, %v; want previous 1", prev, err)
	}
	p, _ := s.Prompt(ctx, "acme", "triage")
	if !reflect.DeepEqual(p.Labels, map[string]int{"production": 2, "staging": 2}) {
		t.Errorf("labels = %v", p.Labels)
	}
	// Rollback: a label moves back.
	if prev, err := s.SetPromptLabel(ctx, "acme", "triage", "production", 1); err != nil || prev != 2 {
		t.Fatalf("rollback = %d, %v", prev, err)
	}
	if _, err := s.SetPromptLabel(ctx, "acme", "triage", "production", 3); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("label to a missing version = %v; want ErrNotFound", err)
	}
	if _, err := s.SetPromptLabel(ctx, "acme", "nope", "production", 1); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("label on a missing prompt = %v; want ErrNotFound", err)
	}
	if prev, err := s.DeletePromptLabel(ctx, "acme", "triage", "staging"); err != nil || prev != 2 {
		t.Errorf("DeletePromptLabel = %d, %v", prev, err)
	}
	if _, err := s.DeletePromptLabel(ctx, "acme", "triage", "staging"); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("deleting a missing label = %v; want ErrNotFound", err)
	}
	ps, _ := s.Prompts(ctx, "acme")
	if len(ps) != 1 || !reflect.DeepEqual(ps[0].Labels, map[string]int{"production": 1}) {
		t.Errorf("Prompts labels = %+v", ps)
	}
	// What a caller does with a returned map does not reach the store.
	ps[0].Labels["production"] = 9
	if p, _ := s.Prompt(ctx, "acme", "triage"); p.Labels["production"] != 1 {
		t.Errorf("modifying returned labels changed the store")
	}
}

func testIsolation(t *testing.T, s prompt.Store) {
	ctx := t.Context()
	create(t, s, "acme", "triage")
	if _, err := s.Prompt(ctx, "other", "triage"); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("other tenant reads acme's prompt: %v", err)
	}
	if _, err := s.PromptVersion(ctx, "other", "triage", 1); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("other tenant reads acme's version: %v", err)
	}
	if _, err := s.AddPromptVersion(ctx, version("other", "triage", 0, "x")); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("other tenant adds a version to acme's prompt: %v", err)
	}
	if _, err := s.SetPromptLabel(ctx, "other", "triage", "production", 1); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("other tenant labels acme's prompt: %v", err)
	}
	if ps, _ := s.Prompts(ctx, "other"); len(ps) != 0 {
		t.Errorf("Prompts(other) = %+v", ps)
	}
}

// Versions added at once get distinct consecutive numbers.
func testConcurrentVersions(t *testing.T, s prompt.Store) {
	ctx := t.Context()
	create(t, s, "acme", "triage")
	const n = 8
	var wg sync.WaitGroup
	nums := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			got, err := s.AddPromptVersion(ctx, version("acme", "triage", 0, fmt.Sprintf("concurrent %d", i)))
			if err != nil {
				t.Errorf("AddPromptVersion: %v", err)
			}
			nums <- got
		})
	}
	wg.Wait()
	close(nums)
	seen := map[int]bool{}
	for g := range nums {
		seen[g] = true
	}
	for i := 2; i <= n+1; i++ {
		if !seen[i] {
			t.Errorf("no version %d among %v", i, seen)
		}
	}
	if vs, _ := s.PromptVersions(ctx, "acme", "triage"); len(vs) != n+1 {
		t.Errorf("%d versions; want %d", len(vs), n+1)
	}
}

// The cache resolves ids, versions and labels per tenant from what the
// store held at its last reload.
func testCache(t *testing.T, s prompt.Store) {
	ctx := t.Context()
	create(t, s, "acme", "triage")
	if _, err := s.AddPromptVersion(ctx, version("acme", "triage", 0, "Second.")); err != nil {
		t.Fatal(err)
	}
	c := prompt.NewCache(s)
	if _, err := c.Resolve("acme", prompt.Ref{ID: "triage"}); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("an empty cache resolved: %v", err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  prompt.Ref
		want int
	}{
		{prompt.Ref{ID: "triage"}, 2}, // no production label: the newest
		{prompt.Ref{ID: "triage", Version: 1}, 1},
		{prompt.Ref{ID: "triage", Label: prompt.Latest}, 2},
	} {
		v, err := c.Resolve("acme", tc.ref)
		if err != nil || v.Number != tc.want {
			t.Errorf("Resolve(%v) = %v, %v; want version %d", tc.ref, v, err, tc.want)
		}
	}
	if _, err := s.SetPromptLabel(ctx, "acme", "triage", "production", 1); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Resolve("acme", prompt.Ref{ID: "triage"}); v.Number != 2 {
		t.Errorf("the cache changed before a reload")
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Resolve("acme", prompt.Ref{ID: "triage"}); err != nil || v.Number != 1 {
		t.Errorf("default after labelling production 1 = %v, %v", v, err)
	}
	if v, err := c.Resolve("acme", prompt.Ref{ID: "triage", Label: "production"}); err != nil || v.Number != 1 {
		t.Errorf("label production = %v, %v", v, err)
	}
	for _, ref := range []prompt.Ref{{ID: "triage", Label: "staging"}, {ID: "triage", Version: 3}, {ID: "nope"}} {
		if _, err := c.Resolve("acme", ref); !errors.Is(err, prompt.ErrNotFound) {
			t.Errorf("Resolve(%v) = %v; want ErrNotFound", ref, err)
		}
	}
	if _, err := c.Resolve("other", prompt.Ref{ID: "triage"}); !errors.Is(err, prompt.ErrNotFound) {
		t.Errorf("another tenant resolved acme's prompt: %v", err)
	}
	if at, err := c.Status(); at.IsZero() || err != nil {
		t.Errorf("Status = %v, %v", at, err)
	}
}
