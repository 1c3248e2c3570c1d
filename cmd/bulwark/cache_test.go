package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/app"
	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/config"
)

// paraphrases is the labelled question pairs of ../shared/data (see its
// README), from this package's directory.
var paraphrases = filepath.Join("..", "..", "..", "shared", "data", "paraphrase", "qqp-dev.jsonl")

func readParaphrases(t *testing.T) []cache.Pair {
	t.Helper()
	f, err := os.Open(paraphrases)
	if err != nil {
		t.Skipf("no labelled question pairs at %s (see ../shared/data/README.md): %v", paraphrases, err)
	}
	defer f.Close()
	pairs, err := cache.ReadPairs(f)
	if err != nil {
		t.Fatal(err)
	}
	return pairs
}

// inProcess embeds through a Bulwark app started in process, as the
// calibrate command does without --url.
func inProcess(t *testing.T) embedFunc {
	t.Helper()
	a, err := app.New(context.Background(), app.Options{DataDir: t.TempDir(), Out: io.Discard, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return func(ctx context.Context, model string, inputs []string) ([][]float32, error) {
		return a.Embed(ctx, "calibrate", model, inputs)
	}
}

// TestSemanticThresholdOfLocalEmbed holds the shipped default to the
// issue's target, precision 0.97 on pairs the calibration never saw. On
// these pairs no threshold of local-embed reaches it (BENCHMARKS.md,
// "Semantic cache (issue 17)"), so none is shipped
// (config.DefaultSemanticThreshold is 0 and an alias must set its own):
// the test fails if that changes in either direction — a default that
// does not hold, or a model that now reaches the target without a default
// being shipped.
func TestSemanticThresholdOfLocalEmbed(t *testing.T) {
	pairs := readParaphrases(t)
	embed := inProcess(t)
	ctx := context.Background()
	const target = 0.97
	if d := config.DefaultSemanticThreshold; d > 0 {
		rep, err := calibrate(ctx, embed, config.LocalEmbed, pairs, target, float32(d))
		if err != nil {
			t.Fatal(err)
		}
		if rep.held.Precision < target {
			t.Errorf("held-out precision at the default threshold %g = %.3f (%d of %d hits); want ≥ %g",
				d, rep.held.Precision, rep.held.TrueHits, rep.held.Hits, target)
		}
		return
	}
	rep, err := calibrate(ctx, embed, config.LocalEmbed, pairs, target, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.found {
		t.Errorf("threshold %.4f now reaches precision %g (held out %.3f, hit rate %.3f): ship it as config.DefaultSemanticThreshold",
			rep.calib.Threshold, target, rep.held.Precision, rep.held.HitRate)
	}
	var out strings.Builder
	rep.print(&out)
	t.Logf("no calibrated default:\n%s", out.String())
}

// TestSemanticCalibrationHoldsOnHeldOutPairs checks the calibration's
// margin where a target is reachable: the precision measured on the
// held-out half is within the Wilson bound the calibration promised.
func TestSemanticCalibrationHoldsOnHeldOutPairs(t *testing.T) {
	pairs := readParaphrases(t)
	rep, err := calibrate(context.Background(), inProcess(t), config.LocalEmbed, pairs, 0.7, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.found || rep.held.Hits < 50 || rep.held.Precision < 0.7 {
		t.Errorf("at target 0.7: found %v, threshold %.4f, held out precision %.3f on %d hits",
			rep.found, rep.calib.Threshold, rep.held.Precision, rep.held.Hits)
	}
}

func TestCacheCalibrateCommand(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pairs.jsonl")
	var lines []string
	for _, l := range []string{
		`{"a":"How do I reset my password?","b":"How can I reset my password?","same":true}`,
		`{"a":"What is the capital of France?","b":"Which city is the capital of France?","same":true}`,
		`{"a":"How do I cook rice?","b":"Why is the sky blue?","same":false}`,
		`{"a":"What is a good laptop?","b":"Where do whales live?","same":false}`,
	} {
		for range 5 {
			lines = append(lines, l)
		}
	}
	_ = os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	code, out, errOut := runCmd(t, "cache", "calibrate", "--pairs", p, "--threshold", "0.9")
	if code != 0 || !strings.Contains(out, "threshold 0.9000 (given)") || !strings.Contains(out, "held out") {
		t.Fatalf("code %d\n%s\n%s", code, out, errOut)
	}
	if code, _, _ := runCmd(t, "cache", "calibrate"); code != 2 {
		t.Errorf("no --pairs: code %d", code)
	}
	if code, _, _ := runCmd(t, "cache", "shrink"); code != 2 {
		t.Errorf("unknown subcommand: code %d", code)
	}
}
