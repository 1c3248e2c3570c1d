package local

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/bulwark-ai/bulwark/llm"
)

// dbpediaDir is the shared BEIR-format evaluation set (see
// shared/data/README.md).
var dbpediaDir = filepath.Join("..", "..", "..", "shared", "data", "retrieval", "dbpedia")

// The quality floors the model must keep on the DBpedia set (nDCG@10 over
// the 40 judged queries). They sit just under what it measures, so that a
// change to the table or the tokenizer that costs quality fails here.
const (
	floorVector = 0.31
	floorHybrid = 0.35
)

// beir is a BEIR dataset: documents (title and text), queries and graded
// judgements.
type beir struct {
	ids, titles, texts []string
	queries            []query
}

type query struct {
	text   string
	judged map[string]int // corpus id → score
}

func loadBEIR(t testing.TB, dir string) *beir {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no evaluation data at %s: %v", dir, err)
	}
	var d beir
	readJSONL(t, filepath.Join(dir, "corpus.jsonl"), func(r record) {
		d.ids = append(d.ids, r.ID)
		d.titles = append(d.titles, r.Title)
		d.texts = append(d.texts, r.Text)
	})
	judged := map[string]map[string]int{}
	f, err := os.Open(filepath.Join(dir, "qrels", "test.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 3 {
			t.Fatalf("qrels line %q", sc.Text())
		}
		score, err := strconv.Atoi(p[2])
		if err != nil {
			t.Fatal(err)
		}
		if judged[p[0]] == nil {
			judged[p[0]] = map[string]int{}
		}
		judged[p[0]][p[1]] = score
	}
	readJSONL(t, filepath.Join(dir, "queries.jsonl"), func(r record) {
		if j, ok := judged[r.ID]; ok {
			d.queries = append(d.queries, query{text: r.Text, judged: j})
		}
	})
	return &d
}

// record is a line of corpus.jsonl or queries.jsonl.
type record struct {
	ID    string `json:"_id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

func readJSONL(t testing.TB, path string, fn func(record)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m record
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		fn(m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// bm25 is Okapi BM25 over lowercase word tokens, with k1 0.9 and b 0.4
// (Anserini's defaults, which BEIR's BM25 baseline uses).
type bm25 struct {
	tf    []map[string]int
	len   []float64
	df    map[string]int
	avgdl float64
}

func bm25Tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func newBM25(docs []string) *bm25 {
	ix := &bm25{df: map[string]int{}}
	for _, d := range docs {
		tf := map[string]int{}
		toks := bm25Tokens(d)
		for _, w := range toks {
			tf[w]++
		}
		for w := range tf {
			ix.df[w]++
		}
		ix.tf = append(ix.tf, tf)
		ix.len = append(ix.len, float64(len(toks)))
		ix.avgdl += float64(len(toks))
	}
	ix.avgdl /= float64(len(docs))
	return ix
}

// rank returns the documents that match q, best first.
func (ix *bm25) rank(q string) []int {
	return ranking(ix.scores(q), func(s float64) bool { return s > 0 })
}

// scores returns every document's BM25 score for q.
func (ix *bm25) scores(q string) []float64 {
	const k1, b = 0.9, 0.4
	n := float64(len(ix.tf))
	scores := make([]float64, len(ix.tf))
	for _, w := range bm25Tokens(q) {
		df := float64(ix.df[w])
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for i, tf := range ix.tf {
			if f := float64(tf[w]); f > 0 {
				scores[i] += idf * f * (k1 + 1) / (f + k1*(1-b+b*ix.len[i]/ix.avgdl))
			}
		}
	}
	return scores
}

// ranking orders the indexes of scores that keep accepts, best first, ties
// in index order.
func ranking(scores []float64, keep func(float64) bool) []int {
	var r []int
	for i, s := range scores {
		if keep(s) {
			r = append(r, i)
		}
	}
	slices.SortStableFunc(r, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	return r
}

// cosineRank ranks every document by cosine similarity to q (the vectors
// are unit length, so a dot product).
func cosineRank(q []float32, docs [][]float32) []int {
	scores := make([]float64, len(docs))
	for i, d := range docs {
		var s float32
		for j := range q {
			s += q[j] * d[j]
		}
		scores[i] = float64(s)
	}
	return ranking(scores, func(float64) bool { return true })
}

// rrf fuses rankings by weighted reciprocal rank fusion: a document scores
// Σ w/(k + rank), rank counted from 1.
func rrf(k float64, rankings [][]int, weights []float64, n int) []int {
	scores := make([]float64, n)
	for r, ranking := range rankings {
		for pos, i := range ranking {
			scores[i] += weights[r] / (k + float64(pos+1))
		}
	}
	return ranking(scores, func(s float64) bool { return s > 0 })
}

// ndcg10 is nDCG@10 as trec_eval computes it: gain the judged score,
// discount log2(rank+1), ideal the ten best judged scores.
func ndcg10(ranked []int, ids []string, judged map[string]int) float64 {
	var dcg float64
	for pos, i := range ranked[:min(10, len(ranked))] {
		dcg += float64(judged[ids[i]]) / math.Log2(float64(pos+2))
	}
	ideal := make([]int, 0, len(judged))
	for _, s := range judged {
		ideal = append(ideal, s)
	}
	slices.Sort(ideal)
	slices.Reverse(ideal)
	var idcg float64
	for pos, s := range ideal[:min(10, len(ideal))] {
		idcg += float64(s) / math.Log2(float64(pos+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// embedAll embeds texts through the provider, in batches as a knowledge
// base would send them.
func embedAll(t testing.TB, p *Embedder, texts []string) [][]float32 {
	t.Helper()
	var out [][]float32
	for start := 0; start < len(texts); start += 256 {
		resp, err := p.Embed(t.Context(), &llm.EmbedRequest{Model: Model, Input: texts[start:min(start+256, len(texts))]})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.Vectors...)
	}
	return out
}

// TestRetrievalDBpedia measures the model on the DBpedia entity-search
// set: cosine ranking alone, and hybrid with BM25 by reciprocal rank
// fusion (k 60), plain and weighted. Run with -v to see the numbers.
func TestRetrievalDBpedia(t *testing.T) {
	d := loadBEIR(t, dbpediaDir)
	docs := make([]string, len(d.ids))
	for i := range docs {
		docs[i] = d.titles[i] + " " + d.texts[i]
	}
	ix := newBM25(docs)
	p := New("local")
	vecs := embedAll(t, p, docs)
	qtexts := make([]string, len(d.queries))
	for i, q := range d.queries {
		qtexts[i] = q.text
	}
	qvecs := embedAll(t, p, qtexts)

	type fusion struct {
		name string
		k, w float64 // w weighs the vector ranking, BM25 weighs 1
	}
	fusions := []fusion{
		{"rrf", 60, 1},
		{"rrf-w0.5", 60, 0.5},
		{"rrf-w0.75", 60, 0.75},
		{"rrf-w1.5", 60, 1.5},
		{"rrf-k20", 20, 1},
		{"rrf-k100", 100, 1},
	}
	var lexical, vector float64
	hybrid := make([]float64, len(fusions))
	for i, q := range d.queries {
		rb := ix.rank(q.text)
		rv := cosineRank(qvecs[i], vecs)
		lexical += ndcg10(rb, d.ids, q.judged)
		vector += ndcg10(rv, d.ids, q.judged)
		for f, fu := range fusions {
			rh := rrf(fu.k, [][]int{rb, rv}, []float64{1, fu.w}, len(docs))
			hybrid[f] += ndcg10(rh, d.ids, q.judged)
		}
	}
	n := float64(len(d.queries))
	t.Logf("%d queries, %d documents", len(d.queries), len(docs))
	t.Logf("nDCG@10 bm25   %.4f", lexical/n)
	t.Logf("nDCG@10 vector %.4f (%s)", vector/n, Model)
	for f, fu := range fusions {
		t.Logf("nDCG@10 hybrid %.4f (%s: k %g, vector weight %g)", hybrid[f]/n, fu.name, fu.k, fu.w)
	}
	// Fewer dimensions: the leading ones, normalised again, as Embed with
	// Dimensions returns them.
	for _, dims := range []int{64, 32} {
		var sum float64
		short := make([][]float32, len(vecs))
		for i, v := range vecs {
			short[i] = truncate(v, dims)
		}
		for i, q := range d.queries {
			sum += ndcg10(cosineRank(truncate(qvecs[i], dims), short), d.ids, q.judged)
		}
		t.Logf("nDCG@10 vector %.4f (first %d dimensions)", sum/n, dims)
	}
	logVariants(t, d, ix, p, vecs, qvecs)
	if v := vector / n; v < floorVector {
		t.Errorf("vector nDCG@10 %.4f, below the floor %.2f", v, floorVector)
	}
	if h := hybrid[0] / n; h < floorHybrid {
		t.Errorf("hybrid (plain RRF) nDCG@10 %.4f, below the floor %.2f", h, floorHybrid)
	}
}

func truncate(v []float32, dims int) []float32 {
	out := append([]float32(nil), v[:dims]...)
	normalise(out)
	return out
}

// logVariants measures retrieval techniques around the same vectors
// (BENCHMARKS.md, "Retrieval quality"): score fusion instead of RRF,
// pseudo-relevance feedback, and the title as a field or a vector of its
// own. None is shipped: they are upper bounds tuned on these queries.
func logVariants(t *testing.T, d *beir, ix *bm25, p *Embedder, vecs, qvecs [][]float32) {
	tix := newBM25(d.titles)
	tvecs := embedAll(t, p, d.titles)
	var fusion, prf, titleField, titleVector float64
	for i, q := range d.queries {
		sb := ix.scores(q.text)
		rb := ranking(sb, func(s float64) bool { return s > 0 })
		rv := cosineRank(qvecs[i], vecs)
		// Score fusion: min-max normalised BM25 and cosine, half each.
		sv := make([]float64, len(vecs))
		for j, v := range vecs {
			sv[j] = float64(dot(qvecs[i], v))
		}
		fused := make([]float64, len(vecs))
		nb, nv := minMax(sb), minMax(sv)
		for j := range fused {
			fused[j] = 0.5*nb[j] + 0.5*nv[j]
		}
		fusion += ndcg10(ranking(fused, func(float64) bool { return true }), d.ids, q.judged)
		// Pseudo-relevance feedback: the query vector plus the mean of
		// the top 3 BM25 hits' vectors.
		fq := append([]float32(nil), qvecs[i]...)
		for _, j := range rb[:min(3, len(rb))] {
			for k := range fq {
				fq[k] += vecs[j][k] / 3
			}
		}
		normalise(fq)
		prf += ndcg10(rrf(60, [][]int{rb, cosineRank(fq, vecs)}, []float64{1, 1}, len(vecs)), d.ids, q.judged)
		// The title as a field of its own, weight 0.5.
		st := tix.scores(q.text)
		for j := range st {
			st[j] = sb[j] + 0.5*st[j]
		}
		rt := ranking(st, func(s float64) bool { return s > 0 })
		titleField += ndcg10(rrf(60, [][]int{rt, rv}, []float64{1, 1}, len(vecs)), d.ids, q.judged)
		// The title's vector as a third ranking, weight 0.5.
		titleVector += ndcg10(rrf(60, [][]int{rb, rv, cosineRank(qvecs[i], tvecs)}, []float64{1, 1, 0.5}, len(vecs)), d.ids, q.judged)
	}
	n := float64(len(d.queries))
	t.Logf("nDCG@10 hybrid %.4f (score fusion, min-max, 0.5 each)", fusion/n)
	t.Logf("nDCG@10 hybrid %.4f (pseudo-relevance feedback: + top 3 BM25 hits' vectors)", prf/n)
	t.Logf("nDCG@10 hybrid %.4f (title as a BM25 field, weight 0.5)", titleField/n)
	t.Logf("nDCG@10 hybrid %.4f (title vector as a third ranking, weight 0.5)", titleVector/n)
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// minMax scales s to 0..1.
func minMax(s []float64) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range s {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	out := make([]float64, len(s))
	for i, v := range s {
		if hi > lo {
			out[i] = (v - lo) / (hi - lo)
		}
	}
	return out
}
