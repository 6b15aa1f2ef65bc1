package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsretry/kmsretry"
)

// progress reports how far the workload got: on a terminal one line rewritten in place ten
// times a second, elsewhere a plain line every second. The counts come from the transport's
// hook and from the records as they end.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	total int
	begun time.Time
	width int // of the longest line written in place

	done, failed, retries, refreshes, expiries atomic.Int64

	halt chan struct{}
	wg   sync.WaitGroup
}

// newProgress returns a progress report of total records on w, which stays silent if quiet.
func newProgress(w io.Writer, total int, quiet bool) *progress {
	return &progress{w: w, tty: isTerminal(w), quiet: quiet, total: total}
}

// isTerminal reports whether w is a terminal, where a line can be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// observe is the transport's hook: it counts retries and refreshes.
func (p *progress) observe(ev kmsretry.Event) {
	switch ev.Kind {
	case kmsretry.EventRetry:
		p.retries.Add(1)
	case kmsretry.EventRefresh:
		p.refreshes.Add(1)
	}
}

// record counts one record that ended, failed unless err is nil, and returns how many have.
func (p *progress) record(err error) int {
	if err != nil {
		p.failed.Add(1)
	}
	return int(p.done.Add(1))
}

// expired counts one expiry of every token.
func (p *progress) expired() { p.expiries.Add(1) }

// start begins reporting.
func (p *progress) start() {
	p.begun = time.Now()
	p.halt = make(chan struct{})
	if p.quiet {
		return
	}

	every := time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	p.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				p.print()
			case <-p.halt:
				return
			}
		}
	})
}

// stop ends reporting with a last line.
func (p *progress) stop() {
	close(p.halt)
	p.wg.Wait()
	if p.quiet {
		return
	}

	p.print()
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// print writes the current line.
func (p *progress) print() {
	line := fmt.Sprintf("records %d/%d  failed %d  retries %d  token refreshes %d"+
		"  tokens expired %dx  %.1fs", p.done.Load(), p.total, p.failed.Load(),
		p.retries.Load(), p.refreshes.Load(), p.expiries.Load(), time.Since(p.begun).Seconds())
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}

	p.width = max(p.width, len(line))
	fmt.Fprintf(p.w, "\r%-*s", p.width, line)
}
