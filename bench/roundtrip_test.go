package bench

import (
	"net/http"
	"testing"
	"time"
)

// path is one scenario of the round-trip benchmarks: which server answers,
// and the status the caller must end with.
type path struct {
	name   string
	url    func() string
	seq    bool
	status int
}

var paths = []path{
	{"success", func() string { return okSrv.URL + kmsPath }, false, http.StatusOK},
	{"one-retry", func() string { return onceSrv.URL + kmsPath }, true, http.StatusOK},
	{"give-up", func() string { return alwaysSrv.URL + kmsPath }, false, 500},
}

const kmsPath = "/v1.0/0b2b4b5e2f8041f0a8a7bd0123456789/kms/encrypt-data"

// BenchmarkRoundTrip sends one encrypt-data request per op through each
// contender, on each path, from one goroutine and from GOMAXPROCS.
func BenchmarkRoundTrip(b *testing.B) {
	for _, p := range paths {
		for _, run := range []string{"seq", "par"} {
			for _, c := range contenders(b, pooled) {
				name := "path=" + p.name + "/run=" + run + "/rt=" + c.name
				b.Run(name, func(b *testing.B) { benchPath(b, p, run == "par", c) })
			}
		}
	}
}

func benchPath(b *testing.B, p path, parallel bool, c contender) {
	url := p.url()
	op := func() {
		resp, err := c.send(b, url, p.seq)
		if err != nil {
			b.Fatal(err)
		}
		drain(resp)
		if resp.StatusCode != p.status {
			b.Fatalf("%s: status %d, want %d", c.name, resp.StatusCode, p.status)
		}
	}

	op() // warm the pool and any lazy state
	b.ReportAllocs()
	start := cpuTime()
	if parallel {
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op()
			}
		})
	} else {
		for b.Loop() {
			op()
		}
	}
	reportCPU(b, start)
}

// reportCPU reports the process's CPU time per op since start, as
// cpu-ns/op: on a shared machine it varies far less than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	if end := cpuTime(); start >= 0 && end >= 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}
