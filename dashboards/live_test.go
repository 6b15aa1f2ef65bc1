package dashboards_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// records is how many records the demo round-trips. Each takes at least two KMS
// requests, one to seal it and one to open it.
const records = 300

// How long the live test waits for the demo's workload, and for each step of Prometheus.
const (
	workloadTimeout = 3 * time.Minute
	startTimeout    = 30 * time.Second
)

// TestLiveQueries runs the demo's workload, then has a real Prometheus scrape the demo
// with the rules loaded, and evaluates every query of the dashboard and of the rules. Each
// dashboard query, and each alert expression without its threshold, must return data with
// the labels that its legend, table or annotations use; an alert expression with its
// threshold must evaluate without error, and fires only if the demo's state calls for it.
//
// The workload is over before Prometheus starts, so Prometheus only sees its final
// counts: every rate and increase is 0, and ratios and quantiles are NaN. The test checks
// that each query is valid and finds the series it expects, not the values.
func TestLiveQueries(t *testing.T) {
	promBin := needTool(t, "prometheus")
	promtool := needTool(t, "promtool")
	root := moduleRoot(t)
	if src, _ := filepath.Glob(filepath.Join(root, "examples", "demo", "*.go")); len(src) == 0 {
		t.Skip("examples/demo has no Go files yet; this test runs the queries against it")
	}
	if testing.Short() {
		t.Skip("builds and runs the demo and Prometheus; skipped with -short")
	}

	demoBin := buildDemo(t, root)
	demoAddr := freeAddr(t)
	demo := start(t, "demo", demoBin, "-listen", demoAddr,
		"-records", strconv.Itoa(records), "-seed", "1")
	body := waitWorkload(t, demo, demoAddr)
	checkMetrics(t, promtool, body)

	prom := startPrometheus(t, promBin, freeAddr(t), demoAddr)
	prom.waitScrapes(t)

	rules := prom.rules(t)
	d := loadDashboard(t)
	for _, q := range append(d.queries(), ruleQueries(rules)...) {
		t.Run(q.name, func(t *testing.T) {
			prom.expectData(t, q)
		})
	}
	t.Run("variable action", func(t *testing.T) {
		prom.expectActions(t)
	})
}

// moduleRoot returns the module's root, the parent of this folder.
func moduleRoot(t *testing.T) string {
	t.Helper()

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", root, err)
	}
	return root
}

func buildDemo(t *testing.T, root string) string {
	t.Helper()

	bin := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/demo")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a process started for the test and killed when the test ends.
type proc struct {
	name string
	out  *output
	done chan struct{} // closed when the process has exited
	err  error         // why it exited, once done is closed
}

// start runs bin until the test ends; its output is logged if the test fails.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()

	cmd := exec.CommandContext(t.Context(), bin, args...)
	p := &proc{name: name, out: &output{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}

	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		<-p.done // t.Context is cancelled before cleanups run, which kills the process
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out)
		}
	})
	return p
}

// exited fails the test if the process has ended.
func (p *proc) exited(t *testing.T) {
	t.Helper()

	select {
	case <-p.done:
		t.Fatalf("%s exited early: %v\n%s", p.name, p.err, p.out)
	default:
	}
}

// output collects a process's output and is safe for concurrent use.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(b)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor calls ok until it reports true, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()

	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

// fetch returns the body of a GET that answers 200.
func fetch(u string) ([]byte, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return b, err
}

// waitWorkload waits until the demo has finished its workload: it prints its verdict on
// the records ("all 300 records round-tripped", or which did not round-trip), or its
// requests add up to two per record. It returns the demo's metrics at that point.
func waitWorkload(t *testing.T, demo *proc, addr string) []byte {
	t.Helper()

	var body []byte
	waitFor(t, workloadTimeout, "the demo's workload", func() bool {
		demo.exited(t)
		b, err := fetch("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		body = b
		return strings.Contains(demo.out.String(), "round-trip") ||
			requestsSum(b) >= 2*records
	})
	return body
}

// requestsSum adds up the kmsretry_requests_total series of a text exposition.
func requestsSum(metrics []byte) float64 {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "kmsretry_requests_total{") {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// checkMetrics lints the demo's exposition with promtool check metrics.
func checkMetrics(t *testing.T, promtool string, body []byte) {
	t.Helper()

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on the demo's /metrics: %v\n%s", err, out)
	}
}
