package guard

import (
	"bufio"
	"encoding/csv"
	"os"
	"strconv"
	"strings"
	"testing"
)

// sample is one labelled prompt of testdata.
type sample struct {
	text      string
	injection bool
	// technique is the public set's category (D1–D8 and E1 are prompt
	// injection and prompt extraction; C1, E2, O1, P1 harmful or probing
	// requests without an injection); "hand" for the hand-made set.
	technique string
	source    string
}

// publicSet is where a public labelled set may be put for a measurement:
// testdata/public_canary.csv, the file data/canary/canary_eval.csv of the
// repository M-Abrisham/AI-Prompt-Injection-Detector without its notes
// column. It is not in Bulwark's repository: that repository states no
// license, so its prompts cannot be redistributed here.
const publicSet = "testdata/public_canary.csv"

// labelled loads testdata: handmade.tsv (written for Bulwark while the
// heuristics were built, so not an independent test) and, when present,
// the public set.
func labelled(t testing.TB) []sample {
	t.Helper()
	var out []sample
	if f, err := os.Open(publicSet); err == nil {
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows[1:] {
			out = append(out, sample{text: unescape(r[0]), injection: r[1] == "1", technique: r[2], source: "public"})
		}
	} else {
		t.Logf("no public labelled set at %s: measuring the hand-made set alone", publicSet)
	}
	h, err := os.Open("testdata/handmade.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sc := bufio.NewScanner(h)
	for sc.Scan() {
		label, text, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		out = append(out, sample{text: unescape(text), injection: label == "1", technique: "hand", source: "hand"})
	}
	return out
}

// unescape reads the \n and \uXXXX escapes the sets write invisible
// characters with.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
		return u
	}
	return s
}

// injectionTechnique reports whether a public category is an injection
// (as opposed to a harmful or probing request, which is the business of
// denied topics or a classifier).
func injectionTechnique(t string) bool {
	return t == "hand" || t == "E1" || (len(t) == 2 && t[0] == 'D')
}

type confusion struct{ tp, fp, tn, fn int }

func (c confusion) precision() float64 { return float64(c.tp) / float64(max(c.tp+c.fp, 1)) }
func (c confusion) recall() float64    { return float64(c.tp) / float64(max(c.tp+c.fn, 1)) }

// TestInjectionOnTheLabelledSet measures the heuristics' precision and
// recall at the default threshold (BENCHMARKS.md, "Guardrails (issue
// 17)") and holds them to floors so that a pattern change that costs
// much is seen.
func TestInjectionOnTheLabelledSet(t *testing.T) {
	set := labelled(t)
	in := NewInjection(Input, 0)
	var all, inj, pub, pubInj confusion
	for _, s := range set {
		hit := in.Scan([]Text{{Role: "user", Content: s.text}}) != ""
		for _, c := range []*confusion{&all, &inj, &pub, &pubInj} {
			if (c == &inj || c == &pubInj) && s.injection && !injectionTechnique(s.technique) {
				continue // not an injection: out of this check's scope
			}
			if (c == &pub || c == &pubInj) && s.source != "public" {
				continue
			}
			switch {
			case hit && s.injection:
				c.tp++
			case hit:
				c.fp++
			case s.injection:
				c.fn++
			default:
				c.tn++
			}
		}
		if testing.Verbose() && hit != s.injection {
			score, names := Score(s.text)
			t.Logf("miss (label %v, %s, score %.2f %v): %.90q", s.injection, s.technique, score, names, s.text)
		}
	}
	pos, neg := all.tp+all.fn, all.tn+all.fp
	t.Logf("set: %d injection-labelled, %d benign", pos, neg)
	t.Logf("all labels:      precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)", all.precision(), all.recall(), all.tp, all.fp, all.fn, all.tn)
	t.Logf("injections only: precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)", inj.precision(), inj.recall(), inj.tp, inj.fp, inj.fn, inj.tn)
	t.Logf("public set only: precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)", pub.precision(), pub.recall(), pub.tp, pub.fp, pub.fn, pub.tn)
	t.Logf("public injections only: precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)", pubInj.precision(), pubInj.recall(), pubInj.tp, pubInj.fp, pubInj.fn, pubInj.tn)
	if pub.tp+pub.fn+pub.tn+pub.fp > 0 && (pos < 200 || neg < 200) {
		t.Errorf("the set has %d injection and %d benign prompts, want at least 200 of each", pos, neg)
	}
	if inj.precision() < 0.95 || inj.recall() < 0.85 {
		t.Errorf("injections: precision %.3f recall %.3f, below the floors 0.95 and 0.85", inj.precision(), inj.recall())
	}
}
