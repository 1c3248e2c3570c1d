// Command retrieval measures knowledge-base retrieval quality end to end
// through Bulwark's API (BENCHMARKS.md, "Retrieval quality"): it starts
// `bulwark serve`, uploads every document of a BEIR-format data set
// (corpus.jsonl, queries.jsonl, qrels/test.tsv) as a file with its id as
// an attribute, attaches them to a vector store in file batches, waits for
// the ingestion, searches every judged query for its top 10 and reports
// nDCG@10 as trec_eval and BEIR compute it (gain = judged score, discount
// log2(rank + 1), ideal = the query's 10 best judged scores, mean over the
// judged queries) and the ingestion time.
//
//	go run ./bench/retrieval                                  # local-embed, ../shared/data/retrieval/dbpedia
//	go run ./bench/retrieval -model sim-embed                 # another embedding alias
//	go run ./bench/retrieval -config my.yaml -model my-embed  # a config that defines it
//
// The data set is read from -data; the benchmark exits with a message
// when it is absent.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/bench/benchproc"
)

const adminKey = "bench-admin-key-0123456789abcdef"

func main() {
	data := flag.String("data", "../shared/data/retrieval/dbpedia", "BEIR-format data set directory")
	bin := flag.String("bin", "", "bulwark binary (default: go build)")
	model := flag.String("model", "local-embed", "embedding alias the vector store embeds with")
	cfgPath := flag.String("config", "", "extra config for bulwark serve (must define -model if it is not built in)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := os.Stat(filepath.Join(*data, "corpus.jsonl")); err != nil {
		fmt.Fprintf(os.Stderr, "retrieval: no data set at %s (see ../shared/data/README.md): %v\n", *data, err)
		os.Exit(0)
	}
	if err := run(ctx, *data, *bin, *model, *cfgPath); err != nil {
		fmt.Fprintln(os.Stderr, "retrieval:", err)
		os.Exit(1)
	}
}

type doc struct {
	ID    string `json:"_id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

func run(ctx context.Context, data, bin, model, cfgPath string) error {
	corpus, err := readJSONL[doc](filepath.Join(data, "corpus.jsonl"))
	if err != nil {
		return err
	}
	queries, err := readJSONL[doc](filepath.Join(data, "queries.jsonl"))
	if err != nil {
		return err
	}
	qrels, err := readQrels(filepath.Join(data, "qrels", "test.tsv"))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bulwark-retrieval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin, err = benchproc.Build(ctx, bin, dir); err != nil {
		return err
	}
	cfg := "log: {level: warn}\n"
	if cfgPath != "" {
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return err
		}
		cfg = string(b)
	}
	cfg += fmt.Sprintf("\nknowledge: {embedding_model: %s, workers: 4, batch_inputs: 64}\n", model)
	if err := os.WriteFile(filepath.Join(dir, "serve.yaml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := benchproc.Start("serve", bin, filepath.Join(dir, "serve.log"), []string{"BULWARK_ADMIN_KEY=" + adminKey},
		"serve", "--config", filepath.Join(dir, "serve.yaml"), "--data-dir", filepath.Join(dir, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer p.Stop(5 * time.Second)
	if err := benchproc.WaitReady(ctx, p, url+"/healthz"); err != nil {
		return err
	}
	api := benchproc.NewAPI(url, adminKey)
	var store struct{ ID string }
	if err := api.JSON(ctx, "POST", "/v1/vector_stores", map[string]string{"name": "beir"}, &store); err != nil {
		return err
	}

	start := time.Now()
	ids := make([]string, len(corpus))
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				id, err := api.Upload(ctx, fmt.Sprintf("doc%d.txt", i), corpus[i].Title+"\n\n"+corpus[i].Text)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					continue
				}
				ids[i] = id
			}
		})
	}
	for i := range corpus {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	uploaded := time.Since(start)
	// One batch per file, so that each carries its document's id.
	for i := 0; i < len(ids); i++ {
		if err := api.JSON(ctx, "POST", "/v1/vector_stores/"+store.ID+"/files",
			map[string]any{"file_id": ids[i], "attributes": map[string]any{"doc": corpus[i].ID}}, nil); err != nil {
			return err
		}
	}
	counts, err := api.WaitStore(ctx, store.ID, 200*time.Millisecond)
	if err != nil {
		return err
	}
	if counts.Failed > 0 {
		fmt.Fprintf(os.Stderr, "%d documents failed to ingest\n", counts.Failed)
	}
	ingested := time.Since(start)

	var sum float64
	var n int
	var lat []time.Duration
	for _, q := range queries {
		judged := qrels[q.ID]
		if len(judged) == 0 {
			continue
		}
		var res struct {
			Data []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"data"`
		}
		t0 := time.Now()
		if err := api.JSON(ctx, "POST", "/v1/vector_stores/"+store.ID+"/search", map[string]any{"query": q.Text, "max_num_results": 10}, &res); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		var ranked []string
		for _, r := range res.Data {
			if id, _ := r.Attributes["doc"].(string); id != "" && !slices.Contains(ranked, id) {
				ranked = append(ranked, id)
			}
		}
		sum += ndcg10(ranked, judged)
		n++
	}
	slices.Sort(lat)
	fmt.Printf("| %s | %d | %d | %.3f | %v | %v | %v | %v |\n", model, len(corpus), n, sum/float64(n),
		uploaded.Round(100*time.Millisecond), ingested.Round(100*time.Millisecond),
		lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*99/100].Round(100*time.Microsecond))
	return nil
}

// ndcg10 is nDCG@10 of a ranking against graded judgements.
func ndcg10(ranked []string, judged map[string]int) float64 {
	var dcg float64
	for i, id := range ranked[:min(10, len(ranked))] {
		dcg += float64(judged[id]) / math.Log2(float64(i+2))
	}
	var gains []int
	for _, g := range judged {
		gains = append(gains, g)
	}
	slices.Sort(gains)
	slices.Reverse(gains)
	var ideal float64
	for i, g := range gains[:min(10, len(gains))] {
		ideal += float64(g) / math.Log2(float64(i+2))
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}

func readJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// readQrels reads query-id, corpus-id, score lines (with a header).
func readQrels(path string) (map[string]map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) != 3 {
			continue
		}
		s, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		if out[f[0]] == nil {
			out[f[0]] = map[string]int{}
		}
		out[f[0]][f[1]] = s
	}
	return out, nil
}
