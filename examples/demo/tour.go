package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

// The phases label the metrics of each, so that they keep apart on one registry.
const (
	phaseTour     = "tour"
	phaseWorkload = "workload"
)

// tourProject is the project id of the tour's requests, except those met by a billing code:
// each of these has a project of its own, so that the billing latch stops only that one.
const tourProject = "tour"

// eventLog keeps the events the transport reports. The tour sends one request at a time,
// so the events between two calls of take belong to one request.
type eventLog struct {
	mu  sync.Mutex
	evs []kmsretry.Event
}

// add is the transport's hook.
func (l *eventLog) add(ev kmsretry.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// take returns the events since the last call and forgets them.
func (l *eventLog) take() []kmsretry.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.evs
	l.evs = nil
	return evs
}

// probe is what became of one tour request.
type probe struct {
	sent    int              // requests the stand-in received
	applied int              // requests whose action took effect
	tokens  int64            // IAM tokens the refresher fetched meanwhile
	imports int64            // import tokens the refresher obtained meanwhile
	events  []kmsretry.Event // what the transport reported
	err     error            // nil when the final answer was a success
}

// tour sends the tour's requests and keeps what each did.
type tour struct {
	kms
	creds *credentials
	log   *eventLog
	keyID string
	tw    *tabwriter.Writer
	bad   []error
}

// runTour meets one request with each code of the catalogue, once, and prints what the
// transport did about it; then it shows the retry budget in an outage. It returns an error
// naming every code that was not handled as its class says, and what the budget did wrong.
func (d *demo) runTour(ctx context.Context, w io.Writer) error {
	srv := kmstest.NewServer(kmstest.WithToken())
	defer srv.Close()

	m, err := d.metrics(phaseTour)
	if err != nil {
		return err
	}
	log := &eventLog{}
	client, creds := d.client(srv, kmsretry.WithMetrics(m), kmsretry.WithHook(log.add))
	t := &tour{kms: kms{http: client, srv: srv}, creds: creds, log: log}
	t.keyID, err = t.createKey(ctx, tourProject, "tour-key")
	if err != nil {
		return fmt.Errorf("creating the tour's key: %w", err)
	}

	entries := kmsretry.Entries()
	fmt.Fprintf(w, "Tour: each of the %d catalogue codes answers one encrypt-data once.\n"+
		"KMS.2601 and KMS.2605 (stale import token) answer one that carries an import_token,\n"+
		"as import-key-material does: the stand-in serves no key import.\n\n", len(entries))
	t.tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(t.tw, "CODE\tHTTP\tCLASS\tSENT\tTRANSPORT\tRESULT")
	t.catalogue(ctx, entries)
	t.tw.Flush()

	fmt.Fprintf(w, "\nOff the catalogue:\n\n")
	fmt.Fprintln(t.tw, "ANSWER\tHTTP\tCLASS\tSENT\tTRANSPORT\tRESULT")
	t.offCatalogue(ctx)
	t.tw.Flush()

	var tourErr error
	if len(t.bad) > 0 {
		fmt.Fprintf(w, "\ntour: %d answers were not handled as their class says\n\n", len(t.bad))
		tourErr = errors.Join(t.bad...)
	} else {
		fmt.Fprintf(w, "\ntour: every answer was handled as its class says\n\n")
	}

	outage, _ := d.client(srv, outageOptions(m)...)
	return errors.Join(tourErr, runOutage(ctx, w, kms{http: outage, srv: srv}, d.reg))
}

// catalogue scripts each code of entries once on encrypt-data and sends one request. After
// the first billing code it sends a second request for the same project, which the latch
// refuses unsent.
func (t *tour) catalogue(ctx context.Context, entries []kmsretry.Entry) {
	latchShown := false
	for _, e := range entries {
		project := tourProject
		if e.Class == kmsretry.Billing {
			project = "frozen-" + strings.ReplaceAll(e.Code, ".", "-")
		}

		t.srv.Script("encrypt-data", kmstest.Code(e.Code))
		var p probe
		ok := true
		if staleImport(e.Code) {
			p, ok = t.encryptImport(ctx, project)
		} else {
			p = t.encrypt(ctx, project)
		}
		t.row(e.Code, strconv.Itoa(e.Status), e.Class.String(), p)
		t.expect(e.Code, p, ok && wantCatalogued(e, p))

		if e.Class == kmsretry.Billing && !latchShown {
			latchShown = true
			p := t.encrypt(ctx, project)
			t.row("  same project", "", "", p)
			latched := errors.Is(p.err, kmsretry.ErrBillingLatched)
			t.expect(e.Code+" again", p, p.sent == 0 && latched)
		}
	}
}

// wantCatalogued reports whether p is what the class of e calls for: the retrying classes
// end in a success after one resend, the others fail at once with e's code and sentinel.
// AuthRefresh renews just the credentials e's code calls stale; the others renew none.
func wantCatalogued(e kmsretry.Entry, p probe) bool {
	switch {
	case e.Class == kmsretry.AuthRefresh && staleImport(e.Code):
		return p.err == nil && p.sent == 2 && p.tokens == 0 && p.imports == 1
	case e.Class == kmsretry.AuthRefresh:
		return p.err == nil && p.sent == 2 && p.tokens == 1 && p.imports == 0
	case p.tokens != 0 || p.imports != 0:
		return false
	case e.Class == kmsretry.Retryable || e.Class == kmsretry.Throttled:
		return p.err == nil && p.sent == 2
	}

	var ke *kmsretry.Error
	sentinel := kmsretry.ErrFatal
	if e.Class == kmsretry.Billing {
		sentinel = kmsretry.ErrBilling
	}
	return errors.As(p.err, &ke) && ke.Code == e.Code && ke.Status == e.Status &&
		errors.Is(p.err, sentinel) && p.sent == 1
}

// offCatalogue tries answers that carry no documented code, and a dropped connection on an
// action that is safe to repeat and on one that is not.
func (t *tour) offCatalogue(ctx context.Context) {
	cases := []struct {
		label, status string
		fault         kmstest.Fault
		action        string
		wantOK        bool
		wantSent      int
	}{
		{"KMS.0104 (undocumented)", "503", kmstest.CodeWithStatus("KMS.0104", 503),
			"encrypt-data", true, 2},
		{"HTML page from a proxy", "502", kmstest.HTMLBadGateway(), "encrypt-data", true, 2},
		{"APIGW.0308, Retry-After 0", "429", kmstest.Throttle("0"), "encrypt-data", true, 2},
		{"dropped connection", "-", kmstest.Drop(), "encrypt-data", true, 2},
		{"dropped after create-key", "-", kmstest.DropAfterEffect(), "create-key", false, 1},
	}

	for i, c := range cases {
		t.srv.Script(c.action, c.fault)
		var p probe
		if c.action == "create-key" {
			alias := map[string]string{"key_alias": "tour-dropped-" + strconv.Itoa(i)}
			p = t.send(ctx, tourProject, c.action, alias)
		} else {
			p = t.encrypt(ctx, tourProject)
		}

		t.row(c.label, c.status, classOf(p), p)
		ok := p.sent == c.wantSent && (p.err == nil) == c.wantOK
		if !c.wantOK {
			ok = ok && errors.Is(p.err, kmsretry.ErrOutcomeUnknown) && p.applied == 1
		}
		t.expect(c.label, p, ok)
	}
}

// encrypt sends one encrypt-data request for project.
func (t *tour) encrypt(ctx context.Context, project string) probe {
	in := map[string]string{"key_id": t.keyID, "plain_text": "tour"}
	return t.send(ctx, project, "encrypt-data", in)
}

// encryptImport sends one encrypt-data for project that carries an import token, as an
// import-key-material request does. It also reports whether the last send carried a new
// import token: the refresher's current one, not the one the request was made with.
func (t *tour) encryptImport(ctx context.Context, project string) (probe, bool) {
	made := t.creds.importToken()
	in := map[string]string{"key_id": t.keyID, "plain_text": "tour", "import_token": made}
	p := t.send(ctx, project, "encrypt-data", in)

	var last struct {
		ImportToken string `json:"import_token"`
	}
	err := json.Unmarshal(t.srv.LastBody("encrypt-data"), &last)
	now := t.creds.importToken()
	return p, err == nil && last.ImportToken == now && now != made
}

// send sends one request and returns what became of it.
func (t *tour) send(ctx context.Context, project, action string, in any) probe {
	sent, applied := t.srv.Requests(action), t.srv.Applied(action)
	tokens, imports := t.creds.tokens.Load(), t.creds.imports.Load()
	t.log.take()

	err := t.call(ctx, project, action, in, nil)
	return probe{
		sent:    t.srv.Requests(action) - sent,
		applied: t.srv.Applied(action) - applied,
		tokens:  t.creds.tokens.Load() - tokens,
		imports: t.creds.imports.Load() - imports,
		events:  t.log.take(),
		err:     err,
	}
}

// row prints one line of the table.
func (t *tour) row(answer, status, class string, p probe) {
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%d\t%s\t%s\n", answer, status, class, p.sent, did(p), result(p))
}

// expect records a problem unless ok.
func (t *tour) expect(answer string, p probe, ok bool) {
	if !ok {
		t.bad = append(t.bad, fmt.Errorf("%s: sent %d times, transport %s, result %s",
			answer, p.sent, did(p), result(p)))
	}
}

// did says in a few words what the transport did, from the events it reported.
func did(p probe) string {
	var retries, refreshes int
	var giveUp *kmsretry.Event
	renewed := "IAM token"
	for i, ev := range p.events {
		switch ev.Kind {
		case kmsretry.EventRetry:
			retries++
			if ev.Class == kmsretry.AuthRefresh && staleImport(ev.Code) {
				renewed = "import token" // a refresh event does not name the code
			}
		case kmsretry.EventRefresh:
			refreshes++
		case kmsretry.EventGiveUp:
			giveUp = &p.events[i]
		}
	}

	switch {
	case p.sent == 0:
		return "refused, not sent"
	case errors.Is(p.err, kmsretry.ErrOutcomeUnknown):
		return "not resent: unsafe action"
	case giveUp != nil && giveUp.Class == kmsretry.Billing:
		return "failed fast, latched project"
	case giveUp != nil && retries == 0:
		return "failed fast"
	}

	var parts []string
	if refreshes > 0 {
		parts = append(parts, "refreshed "+renewed)
	}
	if retries > 0 {
		parts = append(parts, fmt.Sprintf("retried %dx", retries))
	}
	if giveUp != nil {
		parts = append(parts, "gave up")
	}
	if len(parts) == 0 {
		return "sent once"
	}
	return strings.Join(parts, ", ")
}

// result describes the final outcome: a success, or the error with its sentinel.
func result(p probe) string {
	var ke *kmsretry.Error
	switch {
	case p.err == nil:
		return "200 OK"
	case errors.Is(p.err, kmsretry.ErrBillingLatched):
		return "ErrBillingLatched"
	case errors.Is(p.err, kmsretry.ErrOutcomeUnknown):
		return fmt.Sprintf("ErrOutcomeUnknown (%d key created)", p.applied)
	case errors.As(p.err, &ke) && ke.Status != 0:
		return fmt.Sprintf("%d %s %s", ke.Status, ke.Code, sentinel(ke))
	}
	return p.err.Error()
}

// sentinel names the Err… sentinel an error matches.
func sentinel(err error) string {
	named := []struct {
		err  error
		name string
	}{
		{kmsretry.ErrFatal, "ErrFatal"},
		{kmsretry.ErrBilling, "ErrBilling"},
		{kmsretry.ErrRetryable, "ErrRetryable"},
		{kmsretry.ErrThrottled, "ErrThrottled"},
		{kmsretry.ErrAuthRefresh, "ErrAuthRefresh"},
	}
	for _, n := range named {
		if errors.Is(err, n.err) {
			return n.name
		}
	}
	return ""
}

// classOf returns the class the transport gave the first answer of p, or "-" when it gave
// none.
func classOf(p probe) string {
	for _, ev := range p.events {
		if ev.Class != kmsretry.Unknown {
			return ev.Class.String()
		}
	}
	return "-"
}
