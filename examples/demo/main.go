// Demo runs kmsretry against kmstest, a stand-in for Huawei Cloud KMS on a loopback port, and
// shows what the transport does with every answer the service can give.
//
// It runs in two phases. The tour sends one request per code of the catalogue, each met by
// that code once, and prints what the transport did about it; then, in an outage where
// every request fails, it shows the retry budget emptying and sends per request falling to
// one. The workload envelope-encrypts records through an [http.Client] under a seeded mix
// of faults, decrypts every one and compares, and prints a summary read back from the
// transport's Prometheus metrics. It needs no network and no flags:
//
//	go run ./examples/demo
//
// It exits 0 only when every record came back intact. With -listen it also serves /metrics,
// from before the first request until it is interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kmsretry/kmsretry"
)

// settings holds what the flags set.
type settings struct {
	seed        int64
	faultRate   float64
	records     int
	concurrency int
	listen      string
	quiet       bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole demo: it parses args, runs the tour and the workload, prints to stdout
// and returns the exit status: 0 when every record round-tripped, 1 when one did not or the
// tour found a code handled against its class, 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}

	reg := prometheus.NewRegistry()
	if cfg.listen != "" {
		addr, shutdown, err := serveMetrics(cfg.listen, reg)
		if err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 1
		}
		defer shutdown()
		fmt.Fprintf(stdout, "serving /metrics on http://%s/metrics\n", addr)
	}

	d := &demo{cfg: cfg, reg: reg, policy: transportOptions(cfg.faultRate, cfg.records)}
	err = d.run(ctx, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
	}

	if cfg.listen != "" && ctx.Err() == nil {
		fmt.Fprintln(stdout, "still serving /metrics; interrupt to stop")
		<-ctx.Done()
	}

	// The gauges of the retry budget and the billing latch follow live transports only:
	// keep them alive for the summary and for /metrics.
	runtime.KeepAlive(d.clients)

	if err != nil {
		return 1
	}
	return 0
}

// demo is what both phases share: the settings, the registry of their metrics, the
// policies of their transports and the clients made so far.
type demo struct {
	cfg     settings
	reg     *prometheus.Registry
	policy  []kmsretry.Option
	clients []*http.Client
}

// run runs the tour, then the workload, and prints the summary and the verdict. It returns
// what went wrong: a code handled against its class, a record lost, a failed setup.
func (d *demo) run(ctx context.Context, w io.Writer) error {
	tourOut := w
	if d.cfg.quiet {
		tourOut = io.Discard
	}
	tourErr := d.runTour(ctx, tourOut)

	res, err := d.runWorkload(ctx, w)
	if err != nil {
		return errors.Join(tourErr, err)
	}
	if err := printSummary(w, d.reg, res); err != nil {
		return errors.Join(tourErr, err)
	}

	return errors.Join(tourErr, verdict(w, d.cfg.records, res.failures))
}

// verdict prints whether every record round-tripped and, if not, the first failures.
func verdict(w io.Writer, records int, failures []error) error {
	if len(failures) == 0 {
		fmt.Fprintf(w, "all %d records round-tripped\n", records)
		return nil
	}

	fmt.Fprintf(w, "FAILED: %d of %d records did not round-trip\n", len(failures), records)
	for _, err := range failures[:min(len(failures), 5)] {
		fmt.Fprintln(w, "  ", err)
	}
	return fmt.Errorf("%d of %d records did not round-trip", len(failures), records)
}

// parseFlags reads the command line into settings.
func parseFlags(args []string, stderr io.Writer) (settings, error) {
	var cfg settings
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}

	fs.Int64Var(&cfg.seed, "seed", 1, "seed of the stand-in's fault draws and of the records")
	fs.Float64Var(&cfg.faultRate, "fault-rate", 0.2,
		"share of workload requests answered by a fault, from 0 to 0.9;\n"+
			"from about 0.7 the retry budget drains and records are lost, as in an outage")
	fs.IntVar(&cfg.records, "records", 2000, "records to encrypt and decrypt")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "records in flight at once")
	fs.StringVar(&cfg.listen, "listen", "",
		"serve /metrics on this address (such as :9464 or 127.0.0.1:0) during the run\n"+
			"and after it, until interrupted")
	fs.BoolVar(&cfg.quiet, "quiet", false, "print only the summary and the verdict")

	if err := fs.Parse(args); err != nil {
		return cfg, err
	}

	switch {
	case fs.NArg() > 0:
		return cfg, badFlag(fs, "unexpected arguments: %q", fs.Args())
	case cfg.faultRate < 0 || cfg.faultRate > 0.9:
		return cfg, badFlag(fs, "-fault-rate %v is outside [0, 0.9]", cfg.faultRate)
	case cfg.records < 1:
		return cfg, badFlag(fs, "-records must be at least 1")
	case cfg.concurrency < 1:
		return cfg, badFlag(fs, "-concurrency must be at least 1")
	}
	return cfg, nil
}

const usageHeader = `Usage: go run ./examples/demo [flags]

Runs kmsretry against kmstest, a KMS stand-in on a loopback port. First a tour: one request
per catalogue code, each met by that code once, and what the transport did, then an outage
that empties the retry budget. Then a workload: records envelope-encrypted and decrypted
through an http.Client under injected faults, with a summary read back from the
transport's Prometheus metrics. Exits 0 only if every record round-tripped. Needs no
network.

Flags:
`

// badFlag reports a flag error the way the flag package does.
func badFlag(fs *flag.FlagSet, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	fmt.Fprintln(fs.Output(), err)
	fs.Usage()
	return err
}

// serveMetrics serves reg on /metrics at addr. It returns the address it listens on and a
// function that stops the server.
func serveMetrics(addr string, reg *prometheus.Registry) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("cannot serve /metrics: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()

	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
	return ln.Addr().String(), shutdown, nil
}
