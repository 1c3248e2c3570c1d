package loadmetrics

import (
	"errors"
	"fmt"
	"io"
	"math"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The metric names read from a page, and the label naming the model.
const (
	MetricWaiting = "vllm:num_requests_waiting"
	MetricRunning = "vllm:num_requests_running"
	// MetricKVCache is vLLM's KV-cache usage since v0.10 (engine v1);
	// MetricGPUCache its name before. Both are fractions from 0 to 1.
	MetricKVCache  = "vllm:kv_cache_usage_perc"
	MetricGPUCache = "vllm:gpu_cache_usage_perc"
	LabelModel     = "model_name"
)

// MaxPageBytes bounds the metrics page read. A vLLM page with its
// histograms is some tens of kilobytes.
const MaxPageBytes = 4 << 20

// ErrNoLoad is the error of a page that names none of the load metrics.
var ErrNoLoad = errors.New("the page reports none of " + MetricWaiting + ", " + MetricRunning + ", " + MetricKVCache + ", " + MetricGPUCache)

// Report is the load one server reports for one model.
type Report struct {
	// Waiting are the requests queued for the model; Running those in
	// service, both summed over the server's engines.
	Waiting float64
	Running float64
	// KVCache is the share of the KV cache in use, from 0 to 1, averaged
	// over engines; meaningful only when HasKVCache.
	KVCache    float64
	HasKVCache bool
}

// Page is a parsed metrics page: the reports by model name ("" for series
// without a model_name label).
type Page map[string]Report

// Parse reads a metrics page in the Prometheus text exposition format
// (at most MaxPageBytes) and returns the load it reports. Samples that are
// not finite or are negative are ignored; KV-cache usage above 1 counts
// as 1. The error wraps ErrNoLoad when the page names no load metric.
func Parse(r io.Reader) (Page, error) {
	lr := &io.LimitedReader{R: r, N: MaxPageBytes + 1}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(lr)
	if lr.N <= 0 {
		return nil, fmt.Errorf("metrics page is over %d bytes", MaxPageBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse metrics page: %w", err)
	}
	type acc struct {
		Report
		kvSum float64
		kvN   int
	}
	out := map[string]*acc{}
	get := func(m *dto.Metric) (*acc, float64, bool) {
		v, ok := value(m)
		if !ok {
			return nil, 0, false
		}
		name := ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == LabelModel {
				name = lp.GetValue()
			}
		}
		a := out[name]
		if a == nil {
			a = &acc{}
			out[name] = a
		}
		return a, v, true
	}
	found := false
	if f := fams[MetricWaiting]; f != nil {
		found = true
		for _, m := range f.GetMetric() {
			if a, v, ok := get(m); ok {
				a.Waiting += v
			}
		}
	}
	if f := fams[MetricRunning]; f != nil {
		found = true
		for _, m := range f.GetMetric() {
			if a, v, ok := get(m); ok {
				a.Running += v
			}
		}
	}
	kv := fams[MetricKVCache]
	if kv == nil {
		kv = fams[MetricGPUCache] // a server from before the rename
	}
	if kv != nil {
		found = true
		for _, m := range kv.GetMetric() {
			if a, v, ok := get(m); ok {
				a.kvSum += min(v, 1)
				a.kvN++
			}
		}
	}
	if !found {
		return nil, ErrNoLoad
	}
	page := make(Page, len(out))
	for name, a := range out {
		r := a.Report
		// Sums of huge samples overflow; a finite figure compares sanely.
		r.Waiting, r.Running = min(r.Waiting, math.MaxFloat64), min(r.Running, math.MaxFloat64)
		if a.kvN > 0 {
			r.KVCache, r.HasKVCache = a.kvSum/float64(a.kvN), true
		}
		page[name] = r
	}
	return page, nil
}

// value is a sample's value when it is a usable load figure: a gauge (or
// an untyped sample) that is finite and not negative.
func value(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.GetGauge() != nil:
		v = m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		v = m.GetUntyped().GetValue()
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, false
	}
	return v, true
}

// For returns the report for model: the one the page names so, or the
// page's only report when it names exactly one model.
func (p Page) For(model string) (Report, bool) {
	if r, ok := p[model]; ok {
		return r, true
	}
	if len(p) == 1 {
		for _, r := range p {
			return r, true
		}
	}
	return Report{}, false
}
