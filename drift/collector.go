package drift

import "github.com/prometheus/client_golang/prometheus"

var (
	psiDesc = prometheus.NewDesc("bulwark_drift_psi",
		"Population stability index of an alias's rolling window against its baseline, by dimension.",
		[]string{"alias", "dimension"}, nil)
	samplesDesc = prometheus.NewDesc("bulwark_drift_samples",
		"Observations in an alias's rolling window (current) and baseline.",
		[]string{"alias", "window"}, nil)
	noContextDesc = prometheus.NewDesc("bulwark_drift_no_context_share",
		"Share of an alias's grounded requests whose search found nothing above its min_score, in the rolling window (current) and the baseline.",
		[]string{"alias", "window"}, nil)
	baselineDesc = prometheus.NewDesc("bulwark_drift_baseline_start_timestamp_seconds",
		"Start of an alias's baseline window, as a Unix time.",
		[]string{"alias"}, nil)
)

var _ prometheus.Collector = (*Detector)(nil)

// Describe sends the descriptors of the drift metrics.
func (d *Detector) Describe(ch chan<- *prometheus.Desc) {
	ch <- psiDesc
	ch <- samplesDesc
	ch <- baselineDesc
	ch <- noContextDesc
}

// Collect sends each tracked alias's drift: a PSI per dimension that is
// ready, and the sample counts of both windows.
func (d *Detector) Collect(ch chan<- prometheus.Metric) {
	for _, alias := range d.Aliases() {
		r, ok := d.Report(alias)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(samplesDesc, prometheus.GaugeValue, float64(r.CurrentSamples), alias, "current")
		ch <- prometheus.MustNewConstMetric(samplesDesc, prometheus.GaugeValue, float64(r.BaselineSamples), alias, "baseline")
		if !r.BaselineStart.IsZero() {
			ch <- prometheus.MustNewConstMetric(baselineDesc, prometheus.GaugeValue, float64(r.BaselineStart.Unix()), alias)
		}
		if nc := r.NoContext; nc != nil {
			ch <- prometheus.MustNewConstMetric(noContextDesc, prometheus.GaugeValue, nc.Current, alias, "current")
			if r.BaselineSamples > 0 {
				ch <- prometheus.MustNewConstMetric(noContextDesc, prometheus.GaugeValue, nc.Baseline, alias, "baseline")
			}
		}
		for _, s := range r.Scores {
			if s.Ready {
				ch <- prometheus.MustNewConstMetric(psiDesc, prometheus.GaugeValue, s.PSI, alias, s.Dimension)
			}
		}
	}
}
