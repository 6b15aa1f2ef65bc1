package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsretry/kmsretry"
)

// sample is one series of a gathered metric: its labels, and its value or, for a
// histogram, its count and sum.
type sample struct {
	labels map[string]string
	value  float64
	count  uint64
	sum    float64
}

// samples holds the series of each metric, by name.
type samples map[string][]sample

// gather reads every series of g whose label phase is phase.
func gather(g prometheus.Gatherer, phase string) (samples, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, err
	}

	out := samples{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			if s.labels["phase"] != phase {
				continue
			}

			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.count = m.GetHistogram().GetSampleCount()
				s.sum = m.GetHistogram().GetSampleSum()
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out, nil
}

// by adds up the values of metric name by the value of label.
func (ss samples) by(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range ss[name] {
		out[s.labels[label]] += s.value
	}
	return out
}

// total adds up the values of metric name.
func (ss samples) total(name string) float64 {
	var t float64
	for _, s := range ss[name] {
		t += s.value
	}
	return t
}

// printSummary prints what the workload's transport recorded, read back from g: requests by
// outcome, attempts, refreshes, the retry budget, and error answers and retries by class and
// by code. It ends with the stand-in's own counts from res, to compare.
func printSummary(w io.Writer, g prometheus.Gatherer, res workloadResult) error {
	ss, err := gather(g, phaseWorkload)
	if err != nil {
		return fmt.Errorf("gathering the metrics: %w", err)
	}

	fmt.Fprintf(w, "\nSummary, read from the Prometheus registry (phase=%q):\n\n", phaseWorkload)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	outcomes := ss.by("kmsretry_requests_total", "outcome")
	fmt.Fprintf(tw, "requests by outcome\tsuccess %.0f, error %.0f, failed %.0f, rejected %.0f\n",
		outcomes["success"], outcomes["error"], outcomes["failed"], outcomes["rejected"])

	var sends, requests float64
	for _, s := range ss["kmsretry_attempts_per_request"] {
		sends, requests = sends+s.sum, requests+float64(s.count)
	}
	fmt.Fprintf(tw, "attempts per request\t%.3f on average (%.0f sends for %.0f requests)\n",
		sends/max(requests, 1), sends, requests)

	refreshes := ss.by("kmsretry_refreshes_total", "result")
	fmt.Fprintf(tw, "token refreshes\tsuccess %.0f, failure %.0f\n",
		refreshes["success"], refreshes["failure"])
	fmt.Fprintf(tw, "retry budget\t%.0f tokens left, %.0f retries refused\n",
		ss.total("kmsretry_retry_budget_tokens"),
		ss.total("kmsretry_retry_budget_exhausted_total"))
	fmt.Fprintf(tw, "transport errors\t%s\n",
		joinCounts(ss.by("kmsretry_transport_errors_total", "kind")))
	tw.Flush()

	printClasses(w, ss)
	printCodes(w, ss)

	fmt.Fprintf(w, "\nThe stand-in's own counts: %d requests received, %d faults injected, "+
		"tokens expired %dx.\n\n", sum(res.stats.Requests), sum(res.stats.Faults), res.expiries)
	return nil
}

// printClasses prints error answers and retries by class.
func printClasses(w io.Writer, ss samples) {
	answers := ss.by("kmsretry_error_responses_total", "class")
	retries := ss.by("kmsretry_retries_total", "class")

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tERROR ANSWERS\tRETRIES")
	for _, c := range kmsretry.Classes {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\n", c, answers[c.String()], retries[c.String()])
	}
	tw.Flush()
}

// printCodes prints error answers by code, most frequent first.
func printCodes(w io.Writer, ss samples) {
	answers := ss.by("kmsretry_error_responses_total", "code")
	class := map[string]string{}
	for _, s := range ss["kmsretry_error_responses_total"] {
		class[s.labels["code"]] = s.labels["class"]
	}
	codes := slices.SortedFunc(maps.Keys(answers), func(a, b string) int {
		return cmp.Or(cmp.Compare(answers[b], answers[a]), strings.Compare(a, b))
	})

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tCLASS\tERROR ANSWERS")
	for _, code := range codes {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\n", code, class[code], answers[code])
	}
	tw.Flush()

	if answers["none"] > 0 {
		fmt.Fprintln(w, "(none: an answer with no code, such as a proxy's HTML page)")
	}
}

// joinCounts writes counts as "key n, key n", sorted by key, or "none".
func joinCounts(counts map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, counts[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// sum adds up the counts of a map.
func sum(m map[string]int) int {
	t := 0
	for _, n := range m {
		t += n
	}
	return t
}
