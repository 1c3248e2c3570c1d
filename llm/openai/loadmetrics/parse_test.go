package loadmetrics

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A page of a vLLM v1 server with two data-parallel engines: the queue is
// summed over engines, the KV cache averaged, and everything else on the
// page (histograms, counters, info metrics, process metrics) ignored.
func TestParseVLLMPage(t *testing.T) {
	b, err := os.ReadFile("testdata/vllm_v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	page, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 {
		t.Fatalf("page reports %d models, want 1: %+v", len(page), page)
	}
	r, ok := page["meta-llama/Llama-3.1-8B-Instruct"]
	if !ok {
		t.Fatalf("no report for the served model: %+v", page)
	}
	if r.Waiting != 3 || r.Running != 12 || !r.HasKVCache || !near(r.KVCache, 0.625) {
		t.Errorf("report %+v, want waiting 3, running 12, kv cache 0.625", r)
	}
	// A target may name the model as its server's only model under another
	// name (--served-model-name).
	if got, ok := page.For("llama"); !ok || got != r {
		t.Errorf("For(another name) = %+v, %v; want the page's only report", got, ok)
	}
}

// A page of an older vLLM names the KV cache vllm:gpu_cache_usage_perc.
func TestParseOlderVLLMPage(t *testing.T) {
	b, err := os.ReadFile("testdata/vllm_v0.txt")
	if err != nil {
		t.Fatal(err)
	}
	page, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := page.For("mistralai/Mistral-7B-Instruct-v0.3")
	if !ok || r.Waiting != 9 || r.Running != 4 || !r.HasKVCache || !near(r.KVCache, 0.9541666666666667) {
		t.Errorf("report %+v, %v", r, ok)
	}
}

func TestParseCases(t *testing.T) {
	gauge := func(name, labels string, v string) string {
		return "# TYPE " + name + " gauge\n" + name + labels + " " + v + "\n"
	}
	cases := []struct {
		name string
		page string
		want Page
		err  string
	}{
		{"both kv names: the new one wins",
			gauge("vllm:kv_cache_usage_perc", `{model_name="m"}`, "0.5") + gauge("vllm:gpu_cache_usage_perc", `{model_name="m"}`, "0.9"),
			Page{"m": {KVCache: 0.5, HasKVCache: true}}, ""},
		{"no kv cache metric",
			gauge("vllm:num_requests_running", `{model_name="m"}`, "2"),
			Page{"m": {Running: 2}}, ""},
		{"kv above one counts as one",
			gauge("vllm:kv_cache_usage_perc", `{model_name="m"}`, "1.7"),
			Page{"m": {KVCache: 1, HasKVCache: true}}, ""},
		{"bad samples are ignored",
			"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} NaN\n" +
				"vllm:num_requests_waiting{model_name=\"m\",engine=\"1\"} -4\nvllm:num_requests_waiting{model_name=\"m\",engine=\"2\"} +Inf\n" +
				"vllm:num_requests_waiting{model_name=\"m\",engine=\"3\"} 2\n",
			Page{"m": {Waiting: 2}}, ""},
		{"untyped samples count",
			"vllm:num_requests_waiting{model_name=\"m\"} 5\n",
			Page{"m": {Waiting: 5}}, ""},
		{"counters are not load",
			"# TYPE vllm:num_requests_waiting counter\nvllm:num_requests_waiting{model_name=\"m\"} 5\n",
			Page{}, ""},
		{"two models",
			gauge("vllm:num_requests_running", `{model_name="a"}`, "1") + "vllm:num_requests_running{model_name=\"b\"} 3\n",
			Page{"a": {Running: 1}, "b": {Running: 3}}, ""},
		{"no model label", gauge("vllm:num_requests_running", "", "4"), Page{"": {Running: 4}}, ""},
		{"no load metrics", gauge("process_open_fds", "", "12"), nil, "reports none of"},
		{"empty page", "", nil, "reports none of"},
		{"not the text format", "<html>502 Bad Gateway</html>", nil, "parse metrics page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page, err := Parse(strings.NewReader(c.page))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != len(c.want) {
				t.Fatalf("page %+v, want %+v", page, c.want)
			}
			for m, w := range c.want {
				if g, ok := page[m]; !ok || g.Waiting != w.Waiting || g.Running != w.Running ||
					g.HasKVCache != w.HasKVCache || !near(g.KVCache, w.KVCache) {
					t.Errorf("page[%q] = %+v, want %+v", m, g, w)
				}
			}
		})
	}
	if _, err := Parse(strings.NewReader("")); !errors.Is(err, ErrNoLoad) {
		t.Errorf("empty page: %v, want ErrNoLoad", err)
	}
}

func TestParseBoundsThePage(t *testing.T) {
	big := "# HELP x " + strings.Repeat("a", MaxPageBytes) + "\n" + "vllm:num_requests_waiting 1\n"
	_, err := Parse(strings.NewReader(big))
	if err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("error %v, want the page refused as too long", err)
	}
}

func TestPageForPicksOnlyAnUnambiguousModel(t *testing.T) {
	p := Page{"a": {Running: 1}, "b": {Running: 2}}
	if _, ok := p.For("c"); ok {
		t.Error("For an unnamed model of a two-model page found a report")
	}
	if r, ok := p.For("b"); !ok || r.Running != 2 {
		t.Errorf("For(b) = %+v, %v", r, ok)
	}
}

// FuzzParse checks that whatever an upstream serves at /metrics, Parse
// returns a page or an error without panicking, and that every report it
// returns holds usable figures.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/vllm_v1.txt", "testdata/vllm_v0.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("vllm:num_requests_waiting{model_name=\"m\"} 1e308\nvllm:num_requests_waiting{model_name=\"m\",engine=\"1\"} 1e308\n"))
	f.Add([]byte("# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name=\"\\\"\"} 0.3 1700000000000\n"))
	f.Add([]byte("{\"vllm:num_requests_running\",model_name=\"m\"} 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		page, err := Parse(bytes.NewReader(data))
		if err != nil {
			if page != nil {
				t.Fatalf("a page with the error %v", err)
			}
			return
		}
		for m, r := range page {
			if !(r.Waiting >= 0 && r.Waiting <= math.MaxFloat64 && r.Running >= 0 && r.Running <= math.MaxFloat64) {
				t.Fatalf("page[%q] = %+v: not a usable queue", m, r)
			}
			if r.HasKVCache && !(r.KVCache >= 0 && r.KVCache <= 1) {
				t.Fatalf("page[%q] KV cache %v is not a fraction", m, r.KVCache)
			}
		}
	})
}
