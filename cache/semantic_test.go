package cache_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/cache/cachetest"
)

func TestMemoryIndexConformance(t *testing.T) {
	cachetest.RunIndex(t, func(t *testing.T) cachetest.Index { return cache.NewMemoryIndex(1<<20, 64, nil) })
}

func question(t *testing.T, body string) cache.Question {
	t.Helper()
	q, err := cache.QuestionOf([]byte(body))
	if err != nil {
		t.Fatalf("QuestionOf(%s): %v", body, err)
	}
	return q
}

func TestQuestionIsTheLastUserMessageAndTheRestIsContext(t *testing.T) {
	const sys = `{"role":"system","content":"Be brief."}`
	a := question(t, `{"model":"a","messages":[`+sys+`,{"role":"user","content":"How do I reset my password?"}],"temperature":0.7}`)
	if a.Text != "How do I reset my password?" {
		t.Errorf("Text = %q", a.Text)
	}
	// Another question, the model, user and stream fields (unshaping) and
	// key order do not change the context.
	b := question(t, `{"temperature":0.7,"stream":true,"user":"u","model":"b","messages":[`+sys+`,{"content":"I forgot my password, how can I reset it?","role":"user"}]}`)
	if a.Context != b.Context {
		t.Error("the same context hashes apart")
	}
	for name, body := range map[string]string{
		"system prompt": `{"messages":[{"role":"system","content":"Be verbose."},{"role":"user","content":"x"}],"temperature":0.7}`,
		"no system":     `{"messages":[{"role":"user","content":"x"}],"temperature":0.7}`,
		"earlier turn":  `{"messages":[` + sys + `,{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"x"}],"temperature":0.7}`,
		"sampling":      `{"messages":[` + sys + `,{"role":"user","content":"x"}],"temperature":0.2}`,
		"format":        `{"messages":[` + sys + `,{"role":"user","content":"x"}],"temperature":0.7,"response_format":{"type":"json_object"}}`,
		"user name":     `{"messages":[` + sys + `,{"role":"user","name":"bob","content":"x"}],"temperature":0.7}`,
	} {
		if question(t, body).Context == a.Context {
			t.Errorf("%s: the context does not change", name)
		}
	}
	parts := question(t, `{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`)
	if parts.Text != "a\nb" {
		t.Errorf("text parts = %q", parts.Text)
	}
}

func TestQuestionOfRefusesToolsChoicesAndNonText(t *testing.T) {
	for body, want := range map[string]error{
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}`: cache.ErrTools,
		`{"messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]}`:                            cache.ErrTools,
		`{"messages":[{"role":"user","content":"x"}],"n":2}`:                                                 cache.ErrChoices,
		`{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`:                    cache.ErrNoQuestion,
		`{"messages":[{"role":"tool","content":"x","tool_call_id":"c"}]}`:                                    cache.ErrNoQuestion,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}`:            cache.ErrNoQuestion,
		`{"messages":[{"role":"user","content":"  "}]}`:                                                      cache.ErrNoQuestion,
		`{"messages":[]}`:            cache.ErrNoQuestion,
		`[1]`:                        cache.ErrNotSemantic,
		`{"messages":[{}]} trailing`: cache.ErrNotSemantic,
	} {
		if _, err := cache.QuestionOf([]byte(body)); err == nil || !strings.Contains(err.Error(), want.Error()) {
			t.Errorf("QuestionOf(%s) = %v; want %v", body, err, want)
		}
	}
	// Empty tools and n 1 are no reason.
	question(t, `{"messages":[{"role":"user","content":"x"}],"tools":[],"n":1}`)
}

func TestLiteralsKeepNumbersNamesAndSymbols(t *testing.T) {
	for text, want := range map[string]string{
		"Are there perks in Battlefield 4?":               "4 battlefield",
		"When is the chart time for train no. 19708?":     "19708",
		"What is flixcart.com?":                           "flixcart.com",
		"What does this symbol mean @?":                   "@",
		"What is the difference between () and [] in Go?": "[ ] go",
		"How do I reset my password? Please help.":        "",
		"What does 呵呵 mean?":                              "呵呵",
	} {
		if got := cache.Literals(text); got != want {
			t.Errorf("Literals(%q) = %q; want %q", text, got, want)
		}
	}
	// Literals split buckets.
	q1, q2 := question(t, `{"messages":[{"role":"user","content":"perks in Battlefield 4?"}]}`), question(t, `{"messages":[{"role":"user","content":"perks in Battlefield 3?"}]}`)
	if q1.Context != q2.Context || cache.Bucket("chat", "t", "a", "v", "e", q1) == cache.Bucket("chat", "t", "a", "v", "e", q2) {
		t.Error("questions of other literals share a bucket")
	}
}

func TestBucketSeparatesTenantsAliasesModesAndModels(t *testing.T) {
	q := question(t, `{"messages":[{"role":"user","content":"x"}]}`)
	seen := map[string]string{}
	for _, args := range [][5]string{
		{"chat", "t1", "a", "v", "local-embed"},
		{"stream", "t1", "a", "v", "local-embed"},
		{"chat", "t2", "a", "v", "local-embed"},
		{"chat", "t1", "b", "v", "local-embed"},
		{"chat", "t1", "a", "w", "local-embed"},
		{"chat", "t1", "a", "v", "sim-embed"},
	} {
		b := cache.Bucket(args[0], args[1], args[2], args[3], args[4], q)
		if prev, ok := seen[b]; ok {
			t.Errorf("%v and %s share a bucket", args, prev)
		}
		seen[b] = fmt.Sprint(args)
	}
}

func TestMemoryIndexIsBounded(t *testing.T) {
	ctx := context.Background()
	vec := func(i int) []float32 {
		a := float64(i) / 100
		return []float32{float32(math.Cos(a)), float32(math.Sin(a))}
	}
	// Per bucket: the newest 3 are kept.
	ix := cache.NewMemoryIndex(1<<20, 3, nil)
	for i := range 5 {
		_ = ix.Add(ctx, "b", vec(i*50), fmt.Sprint("k", i), time.Hour)
	}
	if ix.Len() != 3 {
		t.Errorf("Len = %d; want 3", ix.Len())
	}
	if m, ok, _ := ix.Search(ctx, "b", vec(0), 0.99); ok {
		t.Errorf("the oldest vector of the bucket is still there: %+v", m)
	}
	if m, ok, _ := ix.Search(ctx, "b", vec(200), 0.99); !ok || m.Key != "k4" {
		t.Errorf("the newest is gone: %+v %v", m, ok)
	}
	// The same key again replaces its vector.
	_ = ix.Add(ctx, "b", vec(200), "k4", time.Hour)
	if ix.Len() != 3 {
		t.Errorf("re-adding a key: Len = %d", ix.Len())
	}
	// By bytes: the oldest vectors, whatever their bucket, go first.
	one := cache.NewMemoryIndex(1<<20, 10, nil)
	_ = one.Add(ctx, "b9", vec(0), "k", time.Hour)
	per := one.Bytes()
	ix = cache.NewMemoryIndex(4*per, 10, nil)
	for i := range 10 {
		_ = ix.Add(ctx, fmt.Sprint("b", i%3), vec(i), fmt.Sprint(i), time.Hour)
	}
	if ix.Len() != 4 || ix.Bytes() > 4*per {
		t.Errorf("Len %d, Bytes %d; want 4 of at most %d", ix.Len(), ix.Bytes(), 4*per)
	}
	if _, ok, _ := ix.Search(ctx, "b0", vec(0), 0.9999); ok {
		t.Error("the oldest vector survived")
	}
}

func TestMemoryIndexExpiresWithItsClock(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	ix := cache.NewMemoryIndex(1<<20, 10, func() time.Time { return now })
	_ = ix.Add(ctx, "b", []float32{1, 0}, "k", time.Minute)
	if _, ok, _ := ix.Search(ctx, "b", []float32{1, 0}, 0.9); !ok {
		t.Fatal("miss before expiry")
	}
	now = now.Add(time.Minute)
	if _, ok, _ := ix.Search(ctx, "b", []float32{1, 0}, 0.9); ok {
		t.Error("hit at expiry")
	}
	if ix.Len() != 0 {
		t.Errorf("an expired vector is kept: Len %d", ix.Len())
	}
}

func TestCalibrateTakesTheLowestThresholdWhosePrecisionHolds(t *testing.T) {
	var scored []cache.Scored
	// 100 pairs above 0.9 of which 99 same, 100 between 0.5 and 0.9 of
	// which half same.
	for i := range 100 {
		scored = append(scored, cache.Scored{Score: 0.9 + float32(i)/1000, Same: i != 50})
		scored = append(scored, cache.Scored{Score: 0.5 + float32(i)/250, Same: i%2 == 0})
	}
	r, ok := cache.Calibrate(scored, 0.9)
	if !ok || r.Threshold < 0.85 || r.Threshold > 0.9 || r.PrecisionLow < 0.9 {
		t.Fatalf("Calibrate = %+v, %v", r, ok)
	}
	if e := cache.Evaluate(scored, r.Threshold); e != r {
		t.Errorf("Evaluate at the threshold = %+v; Calibrate said %+v", e, r)
	}
	if r, ok := cache.Calibrate(scored, 0.999); ok {
		t.Errorf("an unreachable target was reached: %+v", r)
	} else if r.Hits == 0 || r.PrecisionLow <= 0 {
		t.Errorf("the best threshold is not reported: %+v", r)
	}
	// The split is deterministic and about even.
	var pairs []cache.Pair
	for i := range 1000 {
		pairs = append(pairs, cache.Pair{A: fmt.Sprint("q", i), B: fmt.Sprint("p", i)})
	}
	c1, h1 := cache.Split(pairs)
	c2, h2 := cache.Split(pairs)
	if len(c1) != len(c2) || len(h1) != len(h2) || len(c1) < 400 || len(h1) < 400 {
		t.Errorf("split %d/%d then %d/%d", len(c1), len(h1), len(c2), len(h2))
	}
}
