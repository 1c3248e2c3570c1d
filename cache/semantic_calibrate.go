package cache

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
)

// Pair is a labelled pair of questions: Same says whether they ask the
// same thing (whether one's answer answers the other).
type Pair struct {
	A    string `json:"a"`
	B    string `json:"b"`
	Same bool   `json:"same"`
}

// ReadPairs reads pairs, one JSON object a line ({"a", "b", "same"});
// blank lines are skipped.
func ReadPairs(r io.Reader) ([]Pair, error) {
	var pairs []Pair
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; s.Scan(); line++ {
		b := s.Bytes()
		if len(b) == 0 {
			continue
		}
		var p Pair
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("pairs line %d: %w", line, err)
		}
		pairs = append(pairs, p)
	}
	return pairs, s.Err()
}

// Held reports whether a pair is in the held-out half of a split: a
// deterministic coin, the low bit of the SHA-256 of the pair's texts, so
// that the split does not depend on the file's order or on a seed.
func Held(p Pair) bool {
	h := sha256.Sum256([]byte(p.A + "\x00" + p.B))
	return h[0]&1 == 1
}

// Split splits pairs into a calibration and a held-out half (Held).
func Split(pairs []Pair) (calibration, heldOut []Pair) {
	for _, p := range pairs {
		if Held(p) {
			heldOut = append(heldOut, p)
		} else {
			calibration = append(calibration, p)
		}
	}
	return calibration, heldOut
}

// Scored is a labelled pair's similarity.
type Scored struct {
	Score float32
	Same  bool
}

// Result is how a threshold does on scored pairs: a hit is a pair whose
// similarity is at least the threshold.
type Result struct {
	Threshold float32
	Pairs     int
	Positives int // pairs labelled same
	Hits      int
	TrueHits  int // hits labelled same
	// Precision is TrueHits/Hits (1 when there are no hits), HitRate
	// TrueHits/Positives and PrecisionLow the Wilson score lower bound of
	// the precision at 95 % confidence (one-sided).
	Precision    float64
	HitRate      float64
	PrecisionLow float64
}

// Evaluate measures threshold t on scored pairs.
func Evaluate(scored []Scored, t float32) Result {
	r := Result{Threshold: t, Pairs: len(scored)}
	for _, s := range scored {
		if s.Same {
			r.Positives++
		}
		if s.Score >= t {
			r.Hits++
			if s.Same {
				r.TrueHits++
			}
		}
	}
	r.fill()
	return r
}

func (r *Result) fill() {
	r.Precision, r.PrecisionLow = 1, 0
	if r.Hits > 0 {
		r.Precision = float64(r.TrueHits) / float64(r.Hits)
		r.PrecisionLow = wilsonLow(r.TrueHits, r.Hits, 1.645)
	}
	if r.Positives > 0 {
		r.HitRate = float64(r.TrueHits) / float64(r.Positives)
	}
}

// wilsonLow is the lower bound of the Wilson score interval of k
// successes in n trials at z standard deviations.
func wilsonLow(k, n int, z float64) float64 {
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	c := p + z*z/(2*nf)
	m := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return (c - m) / d
}

// Calibrate returns the lowest threshold on scored pairs whose precision's
// Wilson lower bound (Result.PrecisionLow) is at least target, and how it
// does there; when no threshold reaches it, ok is false and the result is
// that of the threshold with the highest lower bound (the best the
// similarity can do). Using the lower
// bound rather than the measured precision is the margin that makes the
// precision hold on pairs the calibration never saw: a threshold with few
// hits is not trusted on their word.
func Calibrate(scored []Scored, target float64) (Result, bool) {
	s := slices.Clone(scored)
	slices.SortFunc(s, func(a, b Scored) int { return -cmpFloat(a.Score, b.Score) })
	r := Result{Pairs: len(s)}
	for _, x := range s {
		if x.Same {
			r.Positives++
		}
	}
	best, found, top := Result{}, false, Result{PrecisionLow: -1}
	for i := 0; i < len(s); {
		// Every pair of this score is a hit at threshold s[i].Score.
		t := s[i].Score
		for ; i < len(s) && s[i].Score == t; i++ {
			r.Hits++
			if s[i].Same {
				r.TrueHits++
			}
		}
		r.Threshold = t
		r.fill()
		if r.PrecisionLow >= target {
			best, found = r, true
		}
		if r.PrecisionLow > top.PrecisionLow {
			top = r
		}
	}
	if !found {
		return top, false
	}
	return best, true
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
