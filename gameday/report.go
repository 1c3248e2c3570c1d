package gameday

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the scorecard as indented JSON.
func (sc *Scorecard) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(sc)
}

// WriteTable writes the scorecard for people: a line per drill, then each
// drill's errors, sheds and checks.
func (sc *Scorecard) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DRILL\tRESULT\tREQUESTS\tSERVED\tP99\tRECOVERY\tSHEDS (crit/inter/batch)")
	for _, d := range sc.Drills {
		req, served, p99, rec, sheds := "-", "-", "-", "-", "-"
		if st := d.Stats; st != nil {
			req, served = fmt.Sprint(st.Requests), fmt.Sprintf("%.1f%%", st.Success*100)
			p99 = fmt.Sprintf("%.0fms", st.P99MS)
			sheds = fmt.Sprintf("%d/%d/%d", st.Sheds["critical"], st.Sheds["interactive"], st.Sheds["batch"])
			if d.Drill != "limits" {
				rec = "never"
				if d.RecoveryMS != nil {
					rec = fmt.Sprintf("%.0fms", *d.RecoveryMS)
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Drill, strings.ToUpper(d.Outcome), req, served, p99, rec, sheds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range sc.Drills {
		fmt.Fprintf(w, "\n%s: %s\n", d.Drill, d.Fault)
		if d.Reason != "" {
			fmt.Fprintf(w, "  %s: %s\n", d.Outcome, d.Reason)
		}
		if d.Stats != nil && len(d.Stats.Errors) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(d.Stats.Errors)) {
				parts = append(parts, fmt.Sprintf("%s %d", k, d.Stats.Errors[k]))
			}
			fmt.Fprintf(w, "  errors: %s\n", strings.Join(parts, ", "))
		}
		if l := d.Limit; l != nil {
			fmt.Fprintf(w, "  limit: %d requests a minute, %d sent, %d admitted\n", l.Limit, l.Sent, l.Accepted)
		}
		if b := d.Budget; b != nil {
			fmt.Fprintf(w, "  budget: $%g, spent $%.6f (%+.1f%%), %d served, %d refused\n", b.BudgetUSD, b.SpentUSD, b.Overshoot*100, b.Served, b.Refused)
		}
		if len(d.Metrics) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(d.Metrics)) {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, d.Metrics[k]))
			}
			fmt.Fprintf(w, "  deployment counters: %s\n", strings.Join(parts, ", "))
		}
		for _, c := range d.Checks {
			mark := "ok  "
			if !c.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s %s: %s (want %s)\n", mark, c.Name, c.Got, c.Want)
		}
	}
	if len(sc.Warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings:")
		for _, m := range sc.Warnings {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
	verdict := "PASS"
	if !sc.Pass {
		verdict = "FAIL"
	}
	_, err := fmt.Fprintf(w, "\ngame day: %s\n", verdict)
	return err
}
