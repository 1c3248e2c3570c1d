package drift

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// unit returns the unit vector at angle a in the plane of the first two
// dimensions of a 4-dimensional space.
func unit(a float64) []float32 { return []float32{float32(math.Cos(a)), float32(math.Sin(a)), 0, 0} }

func observeGrounded(d *Detector, n int, angle float64, chunks int, top float64) {
	for i := range n {
		// Spread the queries a little around the angle.
		q := unit(angle + 0.05*float64(i%5-2))
		d.Observe(Observation{Alias: "gpt", PromptTokens: 100, OutputTokens: 100, Latency: 300 * time.Millisecond, FinishReason: "stop",
			Retrieval: &Retrieval{Chunks: chunks, TopScore: top, Query: q}})
	}
}

// TestRetrievalDrift: questions that move away from the baseline's
// (their embeddings' distance to its centroid), weaker retrieval scores
// and answers with no context each show as drift, and the share of
// answers without context is reported for both windows.
func TestRetrievalDrift(t *testing.T) {
	d, c := newTestDetector()
	observeGrounded(d, 200, 0, 5, 0.85)
	c.add(time.Hour)
	// Now half the questions are about something else (45° away), and
	// those find nothing above min_score.
	observeGrounded(d, 100, 0, 5, 0.85)
	observeGrounded(d, 100, math.Pi/4, 0, 0)
	b, ok := d.Baseline("gpt")
	if !ok || len(b.Centroid) != 4 || math.Abs(float64(b.Centroid[0])-1) > 0.01 {
		t.Fatalf("baseline centroid %v, %v", b.Centroid, ok)
	}
	for _, dim := range []Dimension{QueryDistance, RetrievalChunks} {
		if s := score(t, d, dim); !s.Ready || s.PSI < 0.25 {
			t.Errorf("%s score = %+v; want a significant shift", dim, s)
		}
	}
	// Scores count the answers that had chunks: those are unchanged.
	if s := score(t, d, RetrievalScore); !s.Ready || s.PSI != 0 {
		t.Errorf("retrieval score = %+v; want no shift", s)
	}
	r, _ := d.Report("gpt")
	if r.NoContext == nil || !near(r.NoContext.Current, 0.5) || r.NoContext.Baseline != 0 {
		t.Errorf("no-context share = %+v; want 0.5 now, 0 in the baseline", r.NoContext)
	}
	// Unchanged questions: no drift.
	c.add(time.Hour)
	observeGrounded(d, 200, 0, 5, 0.85)
	if s := score(t, d, QueryDistance); !s.Ready || s.PSI > 0.1 {
		t.Errorf("query distance of unchanged questions = %+v", s)
	}
}

// TestBaselineWithoutRetrieval: a baseline stored before retrieval was
// tracked still loads, its retrieval dimensions empty (no score), and a
// snapshot with its centroid round-trips through JSON.
func TestBaselineWithoutRetrieval(t *testing.T) {
	d, _ := newTestDetector()
	old := Snapshot{Start: time.Unix(0, 0).UTC(), End: time.Unix(3600, 0).UTC(), Counts: map[string][]uint64{}}
	for _, dim := range Dimensions()[:RetrievalScore] {
		old.Counts[dim.String()] = make([]uint64, bucketCount[dim])
	}
	if err := d.SetBaseline("gpt", old); err != nil {
		t.Fatalf("old baseline: %v", err)
	}
	if _, ok := old.Counts[RetrievalScore.String()]; ok {
		t.Error("SetBaseline changed the caller's snapshot")
	}
	b, _ := d.Baseline("gpt")
	if n := len(b.Counts[QueryDistance.String()]); n != bucketCount[QueryDistance] {
		t.Errorf("query distance buckets of an old baseline: %d", n)
	}
	b.Centroid = []float32{0.6, 0.8}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Centroid) != 2 || back.Centroid[1] != 0.8 {
		t.Errorf("round trip: %+v, %v", back.Centroid, err)
	}
	// A snapshot missing an older dimension is still refused.
	delete(old.Counts, Latency.String())
	if err := d.SetBaseline("gpt", old); err == nil {
		t.Error("a baseline without latency was accepted")
	}
}
