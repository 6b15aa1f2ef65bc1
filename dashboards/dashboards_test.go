// Package dashboards_test checks the Grafana dashboard and the Prometheus rules kept in
// this folder: the files are well formed, the rules pass their unit tests, and every query
// of both returns data from the demo scraped by a real Prometheus (live_test.go).
package dashboards_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The files under test, relative to this folder.
const (
	dashboardFile = "kmsretry.json"
	rulesFile     = "kmsretry-rules.yml"
	rulesTestFile = "kmsretry-rules.test.yml"
)

// installHint says how to get the Prometheus tools on Debian, where both come in one
// package.
const installHint = "apt-get update && apt-get install -y prometheus"

// dashboard is the part of a Grafana dashboard model that the tests read.
type dashboard struct {
	SchemaVersion int             `json:"schemaVersion"`
	Inputs        json.RawMessage `json:"__inputs"`
	Panels        []panel         `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// panel is a dashboard panel; a row holds its panels only while collapsed.
type panel struct {
	Type            string          `json:"type"`
	Title           string          `json:"title"`
	Description     string          `json:"description"`
	Datasource      json.RawMessage `json:"datasource"`
	Targets         []target        `json:"targets"`
	Panels          []panel         `json:"panels"`
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			IndexByName map[string]int `json:"indexByName"`
		} `json:"options"`
	} `json:"transformations"`
}

// target is one query of a panel.
type target struct {
	RefID        string          `json:"refId"`
	Expr         string          `json:"expr"`
	LegendFormat string          `json:"legendFormat"`
	Datasource   json.RawMessage `json:"datasource"`
}

// variable is a template variable.
type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Datasource json.RawMessage `json:"datasource"`
}

// query is a PromQL expression to evaluate, with the labels its results must carry.
type query struct {
	name       string
	expr       string
	labels     []string
	mayBeEmpty bool // an alert's expression, empty while the alert is not due
}

// needTool returns the path of a Prometheus tool. Outside CI a missing tool skips the
// test; in CI (CI=true) it fails it, so that a missing install step cannot pass unseen.
func needTool(t *testing.T, name string) string {
	t.Helper()

	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI must run this test: %s", name, installHint)
	}
	t.Skipf("%s is not installed; to run this test: %s", name, installHint)
	return ""
}

func TestRulesPromtool(t *testing.T) {
	promtool := needTool(t, "promtool")

	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", rulesTestFile},
	} {
		t.Run(strings.Join(args[:2], "_"), func(t *testing.T) {
			out, err := exec.Command(promtool, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestRulesTested requires a promtool test of every alert, one that fires it and one
// that does not.
func TestRulesTested(t *testing.T) {
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}

	alerts := alertName.FindAllStringSubmatch(string(rules), -1)
	if len(alerts) == 0 {
		t.Fatalf("no alert in %s", rulesFile)
	}
	for _, m := range alerts {
		fires := regexp.MustCompile(`alertname: ` + m[1] + `\s+exp_alerts:\s+- exp_labels:`)
		silent := regexp.MustCompile(`alertname: ` + m[1] + `\s+exp_alerts: \[\]`)
		if !fires.Match(tests) || !silent.Match(tests) {
			t.Errorf("%s needs a test where %s fires and one where it does not",
				rulesTestFile, m[1])
		}
	}
}

// alertName matches the name of an alerting rule.
var alertName = regexp.MustCompile(`(?m)^\s*- alert: (\w+)\s*$`)

func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	panels := d.dataPanels()
	if len(panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}

	for _, p := range panels {
		t.Run(p.Title, func(t *testing.T) {
			checkPanel(t, p)
		})
	}
}

// checkPanel checks that a panel is bound to the datasource variable, says what it is
// for, and queries kmsretry metrics through the action variable where they have one.
func checkPanel(t *testing.T, p panel) {
	t.Helper()

	if !isDatasourceVar(p.Datasource) {
		t.Errorf("datasource is %s, want ${datasource}", p.Datasource)
	}
	if strings.TrimSpace(p.Description) == "" {
		t.Error("no description: say what question the panel answers")
	}
	if len(p.Targets) == 0 {
		t.Fatal("no targets")
	}

	for _, tg := range p.Targets {
		if tg.Datasource != nil && !isDatasourceVar(tg.Datasource) {
			t.Errorf("target %s: datasource is %s, want ${datasource}", tg.RefID, tg.Datasource)
		}
		if strings.TrimSpace(tg.Expr) == "" {
			t.Errorf("target %s has no expression", tg.RefID)
		}
		if actionMetric.MatchString(tg.Expr) && !strings.Contains(tg.Expr, `action=~"$action"`) {
			t.Errorf("target %s ignores the action variable: %s", tg.RefID, tg.Expr)
		}
		if v := unknownVar(grafanaExpr(tg.Expr)); v != "" {
			t.Errorf("target %s uses %s, which the tests cannot substitute", tg.RefID, v)
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)

	if d.Inputs != nil {
		t.Error("the dashboard has __inputs; it must import as it is, with no input step")
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion is %d, want 39 or later", d.SchemaVersion)
	}

	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}

	ds := vars["datasource"]
	if ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("datasource variable: type %q, query %s; want a prometheus datasource",
			ds.Type, ds.Query)
	}

	act := vars["action"]
	if act.Type != "query" || !act.Multi || !act.IncludeAll || act.AllValue != ".*" {
		t.Errorf("action variable: %+v; want a multi-value query with All as .*", act)
	}
	if act.Definition != actionValues || !strings.Contains(string(act.Query), actionValues) {
		t.Errorf("action variable queries %s, want %s", act.Query, actionValues)
	}
	if !isDatasourceVar(act.Datasource) {
		t.Errorf("action variable: datasource is %s, want ${datasource}", act.Datasource)
	}
}

// actionValues is the query of the action variable.
const actionValues = "label_values(kmsretry_requests_total, action)"

// actionMetric matches the metrics that have an action label.
var actionMetric = regexp.MustCompile(`kmsretry_(requests|error_responses|retries|` +
	`transport_errors|attempts_per_request|request_duration_seconds|` +
	`retry_budget_exhausted|billing_latch_rejections)_`)

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()

	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// dataPanels returns every panel but the rows, including those inside collapsed rows.
func (d *dashboard) dataPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// queries returns the expressions of every panel target, as Prometheus would receive them
// from Grafana, with the labels that the panel's legend or table columns name.
func (d *dashboard) queries() []query {
	var out []query
	for _, p := range d.dataPanels() {
		for _, tg := range p.Targets {
			out = append(out, query{
				name:   p.Title + "/" + tg.RefID,
				expr:   grafanaExpr(tg.Expr),
				labels: panelLabels(p, tg),
			})
		}
	}
	return out
}

// isDatasourceVar reports whether a datasource reference names the datasource variable,
// either as the bare string of old dashboards or as the uid of a reference object.
func isDatasourceVar(raw json.RawMessage) bool {
	const want = "${datasource}"

	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == want
	}
	var ref struct {
		UID string `json:"uid"`
	}
	return json.Unmarshal(raw, &ref) == nil && ref.UID == want
}

// grafanaVars replaces the variables the way Grafana would for one refresh of the
// dashboard with every action selected.
var grafanaVars = strings.NewReplacer(
	"${action}", ".*",
	"$action", ".*",
	"${__rate_interval}", "1m",
	"$__rate_interval", "1m",
	"${__range}", "5m",
	"$__range", "5m",
	"${__interval}", "15s",
	"$__interval", "15s",
)

func grafanaExpr(expr string) string { return grafanaVars.Replace(expr) }

// grafanaVar matches a Grafana variable.
var grafanaVar = regexp.MustCompile(`\$\{?[A-Za-z_]\w*`)

// unknownVar returns the first variable left in expr, or "".
func unknownVar(expr string) string { return grafanaVar.FindString(expr) }

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// panelLabels returns the labels a target's results must have: those its legend shows,
// and for a table the columns its organize transformation orders.
func panelLabels(p panel, tg target) []string {
	var out []string
	for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
		out = append(out, m[1])
	}

	for _, tr := range p.Transformations {
		if tr.ID != "organize" {
			continue
		}
		for col := range tr.Options.IndexByName {
			if col != "Time" && col != "Value" {
				out = append(out, col)
			}
		}
	}
	return out
}
