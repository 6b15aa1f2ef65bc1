package dashboards_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// promConfig is the Prometheus configuration: the rules under test and the demo, scraped
// every second. Its verbs are the rules file and the demo's address.
const promConfig = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: kmsretry-demo
    static_configs:
      - targets: [%q]
`

// promAPI is the HTTP API of the Prometheus started for the test.
type promAPI struct {
	base string
	proc *proc
}

func startPrometheus(t *testing.T, bin, addr, demoAddr string) *promAPI {
	t.Helper()

	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	cfg := fmt.Appendf(nil, promConfig, rules, demoAddr)
	if err := os.WriteFile(config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	p := &promAPI{base: "http://" + addr}
	p.proc = start(t, "prometheus", bin, "--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	waitFor(t, startTimeout, "Prometheus to be ready", func() bool {
		p.proc.exited(t)
		_, err := fetch(p.base + "/-/ready")
		return err == nil
	})
	return p
}

// get calls an API endpoint and decodes its data into v.
func (p *promAPI) get(path string, params url.Values, v any) error {
	b, err := fetch(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}

	var r struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", path, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p *promAPI) query(expr string) ([]sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", data.ResultType)
	}
	return data.Result, nil
}

// waitScrapes waits until Prometheus has scraped the demo successfully three times, so
// that every rate has samples to work on.
func (p *promAPI) waitScrapes(t *testing.T) {
	t.Helper()

	const expr = `sum_over_time(up{job="kmsretry-demo"}[1m])`
	waitFor(t, startTimeout, "three successful scrapes of the demo", func() bool {
		p.proc.exited(t)
		s, err := p.query(expr)
		return err == nil && len(s) == 1 && value(s[0]) >= 3
	})
}

// value returns a sample's value, NaN if it cannot be read.
func value(s sample) float64 {
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// rule is an alerting rule as the rules API reports it.
type rule struct {
	Name        string            `json:"name"`
	Query       string            `json:"query"`
	Type        string            `json:"type"`
	Health      string            `json:"health"`
	LastError   string            `json:"lastError"`
	Annotations map[string]string `json:"annotations"`
}

// rules returns the loaded kmsretry rules once each has been evaluated, failing the
// test for any that Prometheus did not load or could not evaluate.
func (p *promAPI) rules(t *testing.T) []rule {
	t.Helper()

	var got []rule
	waitFor(t, startTimeout, "every rule to be evaluated", func() bool {
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []rule `json:"rules"`
			} `json:"groups"`
		}
		if err := p.get("/api/v1/rules", nil, &data); err != nil {
			t.Fatal(err)
		}

		got = nil
		for _, g := range data.Groups {
			if g.Name == "kmsretry" {
				got = g.Rules
			}
		}
		for _, r := range got {
			if r.Health == "unknown" {
				return false
			}
		}
		return len(got) > 0
	})

	for _, r := range got {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
	}
	return got
}

// threshold matches a comparison with a number, as in "> 0.2".
var threshold = regexp.MustCompile(`\s*(?:[<>]=?|[=!]=)\s*(?:bool\s+)?[-+]?[0-9][0-9.eE+-]*`)

// annotationLabel matches a label used by an annotation template.
var annotationLabel = regexp.MustCompile(`\$labels\.(\w+)`)

// ruleQueries returns the expression of every alert and, for an alert that compares with
// a threshold, the expression without the comparison. Whatever they return must have the
// labels the alert's annotations use, and the expression without a threshold must return
// data; the one with it returns data only while the alert is due.
func ruleQueries(rules []rule) []query {
	var out []query
	for _, r := range rules {
		if r.Type != "alerting" {
			continue
		}

		var labels []string
		for _, a := range r.Annotations {
			for _, m := range annotationLabel.FindAllStringSubmatch(a, -1) {
				labels = append(labels, m[1])
			}
		}
		lhs := threshold.ReplaceAllString(r.Query, "")
		out = append(out, query{name: "alert " + r.Name, expr: r.Query, labels: labels,
			mayBeEmpty: lhs != r.Query})
		if lhs != r.Query {
			out = append(out, query{name: "alert " + r.Name + " without threshold",
				expr: lhs, labels: labels})
		}
	}
	return out
}

// expectData evaluates q now and requires a result whose series all have q's labels.
func (p *promAPI) expectData(t *testing.T, q query) {
	t.Helper()

	res, err := p.query(q.expr)
	if err != nil {
		t.Fatalf("%v\n%s", err, q.expr)
	}
	switch {
	case len(res) == 0 && q.mayBeEmpty:
		t.Logf("not due on the demo's final state")
	case len(res) == 0:
		t.Fatalf("no data after the demo's workload:\n%s", q.expr)
	case q.mayBeEmpty:
		t.Logf("due on the demo's final state, %d series", len(res))
	}

	for _, s := range res {
		for _, l := range q.labels {
			if s.Metric[l] == "" {
				t.Errorf("series %v has no %s label\n%s", s.Metric, l, q.expr)
			}
		}
	}
}

// expectActions runs the action variable's query the way Grafana does, through the
// label values API.
func (p *promAPI) expectActions(t *testing.T) {
	t.Helper()

	var actions []string
	params := url.Values{"match[]": {"kmsretry_requests_total"}}
	if err := p.get("/api/v1/label/action/values", params, &actions); err != nil {
		t.Fatal(err)
	}
	if len(actions) == 0 {
		t.Fatalf("%s returns no action", actionValues)
	}
}
