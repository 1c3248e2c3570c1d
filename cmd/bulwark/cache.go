package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/app"
	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/config"
)

const cacheUsage = `usage:
  bulwark cache calibrate --pairs FILE [--model ALIAS] [--precision P] [--threshold T]
                          [--config FILE | --url URL [--key KEY]]
        calibrate the semantic cache's similarity threshold on labelled
        question pairs (JSON lines {"a", "b", "same"}): the pairs are split
        in two halves by a hash of their texts; the threshold is the lowest
        whose precision on the calibration half is at least P with 95 %
        confidence (Wilson lower bound); precision and hit rate are then
        reported on the held-out half. --threshold T skips the calibration
        and measures T on both halves. Embeddings go through a Bulwark
        gateway: one started in process (with --config, else the built-in
        models) or, with --url, a running one.
`

func cacheCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "calibrate" {
		fmt.Fprint(stderr, cacheUsage)
		return errUsage
	}
	fs := newFlagSet("cache calibrate", cacheUsage, stderr)
	pairsPath := fs.String("pairs", "", "labelled question pairs, JSON lines {\"a\", \"b\", \"same\"}")
	model := fs.String("model", config.LocalEmbed, "embedding alias")
	target := fs.Float64("precision", 0.97, "target precision")
	threshold := fs.Float64("threshold", 0, "measure this threshold instead of calibrating one")
	cfgPath := fs.String("config", "", "config of the in-process gateway (default: the built-in models)")
	remote := fs.String("url", "", "embed through the Bulwark at this URL instead of in process")
	key := fs.String("key", "", "API key for --url (default $BULWARK_API_KEY, else $BULWARK_ADMIN_KEY)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *pairsPath == "" || fs.NArg() > 0 || *target <= 0 || *target >= 1 || *threshold < 0 || *threshold > 1 {
		fmt.Fprint(stderr, cacheUsage)
		return errUsage
	}
	f, err := os.Open(*pairsPath)
	if err != nil {
		return err
	}
	pairs, err := cache.ReadPairs(f)
	f.Close()
	if err != nil {
		return err
	}
	var embed embedFunc
	if *remote != "" {
		k := *key
		for _, env := range []string{"BULWARK_API_KEY", "BULWARK_ADMIN_KEY"} {
			if k == "" {
				k = os.Getenv(env)
			}
		}
		if k == "" {
			return errors.New("--url needs --key, $BULWARK_API_KEY or $BULWARK_ADMIN_KEY")
		}
		embed = remoteEmbedder(*remote, k)
	} else {
		dir, err := os.MkdirTemp("", "bulwark-calibrate-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		a, err := app.New(ctx, app.Options{ConfigPath: *cfgPath, DataDir: dir, Out: io.Discard, LogOutput: io.Discard})
		if err != nil {
			return err
		}
		defer a.Close()
		embed = func(ctx context.Context, model string, inputs []string) ([][]float32, error) {
			return a.Embed(ctx, "calibrate", model, inputs)
		}
	}
	act := startActivity(stderr, "calibrating")
	embedded, total := 0, 2*len(pairs)
	counted := func(ctx context.Context, model string, inputs []string) ([][]float32, error) {
		v, err := embed(ctx, model, inputs)
		embedded += len(inputs)
		act.Step(fmt.Sprintf("embedded %d of %d questions", embedded, total))
		return v, err
	}
	rep, err := calibrate(ctx, counted, *model, pairs, *target, float32(*threshold))
	act.Done()
	if err != nil {
		return err
	}
	rep.print(stdout)
	return nil
}

// embedFunc embeds inputs with an embedding alias.
type embedFunc func(ctx context.Context, model string, inputs []string) ([][]float32, error)

// remoteEmbedder embeds through a running Bulwark's /v1/embeddings.
func remoteEmbedder(url, key string) embedFunc {
	c := &adminClient{url: strings.TrimSuffix(url, "/"), key: key, hc: &http.Client{Timeout: 2 * time.Minute}}
	return func(ctx context.Context, model string, inputs []string) ([][]float32, error) {
		var out struct {
			Data []struct {
				Index     int       `json:"index"`
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		}
		if err := c.call(ctx, "POST", "/v1/embeddings", map[string]any{"model": model, "input": inputs}, &out); err != nil {
			return nil, err
		}
		vecs := make([][]float32, len(inputs))
		for _, d := range out.Data {
			if d.Index >= 0 && d.Index < len(vecs) {
				vecs[d.Index] = d.Embedding
			}
		}
		for i, v := range vecs {
			if v == nil {
				return nil, fmt.Errorf("embeddings: no vector for input %d", i)
			}
		}
		return vecs, nil
	}
}

// calibration is what bulwark cache calibrate reports.
type calibration struct {
	model              string
	target             float64
	given              bool // the threshold was given, not calibrated
	found              bool
	calib, held        cache.Result
	calibSize, heldLen int
}

// calibrate scores every pair by the cosine similarity of its questions'
// embeddings (-1, never a hit, when their cache.Literals differ, as the
// semantic cache never compares them), then calibrates a threshold on one half (or takes t, when
// it is not zero) and measures it on the other.
func calibrate(ctx context.Context, embed embedFunc, model string, pairs []cache.Pair, target float64, t float32) (*calibration, error) {
	calibPairs, heldPairs := cache.Split(pairs)
	calibScored, err := score(ctx, embed, model, calibPairs)
	if err != nil {
		return nil, err
	}
	heldScored, err := score(ctx, embed, model, heldPairs)
	if err != nil {
		return nil, err
	}
	c := &calibration{model: model, target: target, calibSize: len(calibPairs), heldLen: len(heldPairs)}
	if t > 0 {
		c.given, c.found = true, true
		c.calib = cache.Evaluate(calibScored, t)
	} else {
		c.calib, c.found = cache.Calibrate(calibScored, target)
	}
	c.held = cache.Evaluate(heldScored, c.calib.Threshold)
	return c, nil
}

// score embeds the pairs' questions, in batches, and returns each pair's
// similarity.
func score(ctx context.Context, embed embedFunc, model string, pairs []cache.Pair) ([]cache.Scored, error) {
	texts := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		texts = append(texts, p.A, p.B)
	}
	vecs := make([][]float32, 0, len(texts))
	const batch = 128
	for i := 0; i < len(texts); i += batch {
		v, err := embed(ctx, model, texts[i:min(i+batch, len(texts))])
		if err != nil {
			return nil, fmt.Errorf("embed with %s: %w", model, err)
		}
		vecs = append(vecs, v...)
	}
	scored := make([]cache.Scored, len(pairs))
	for i, p := range pairs {
		// Questions whose literals differ are never compared (cache.Bucket).
		s := float32(-1)
		if cache.Literals(p.A) == cache.Literals(p.B) {
			s = cache.Dot(cache.Normalize(vecs[2*i]), cache.Normalize(vecs[2*i+1]))
		}
		scored[i] = cache.Scored{Score: s, Same: p.Same}
	}
	return scored, nil
}

func (c *calibration) print(w io.Writer) {
	fmt.Fprintf(w, "model %s: %d pairs: %d to calibrate, %d held out\n", c.model, c.calibSize+c.heldLen, c.calibSize, c.heldLen)
	how := fmt.Sprintf("calibrated: lowest threshold with precision ≥ %.3f at 95 %% confidence", c.target)
	switch {
	case c.given:
		how = "given"
	case !c.found:
		fmt.Fprintf(w, "NO threshold reaches precision %.3f at 95 %% confidence on the calibration half; the best one:\n", c.target)
		how = "highest lower bound of the precision"
	}
	fmt.Fprintf(w, "threshold %.4f (%s)\n", c.calib.Threshold, how)
	for _, x := range []struct {
		name string
		r    cache.Result
	}{{"calibration", c.calib}, {"held out", c.held}} {
		fmt.Fprintf(w, "  %-11s precision %.3f (lower bound %.3f), hit rate %.3f: %d hits, %d true, of %d positive pairs\n",
			x.name, x.r.Precision, x.r.PrecisionLow, x.r.HitRate, x.r.Hits, x.r.TrueHits, x.r.Positives)
	}
}
