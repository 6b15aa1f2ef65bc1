package kmsretry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

var (
	soakOpsFlag = flag.Int("soak.requests", 0,
		"operations TestSoak runs: 0 means 5,000, or 100,000 with -soak.long")
	soakLong = flag.Bool("soak.long", false, "run TestSoak with 100,000 operations")
	soakSeed = flag.Uint64("soak.seed", 1, "seed of TestSoak's request mix and fault draws")
)

const (
	soakWorkers  = 32  // goroutines sending through the one transport
	expireEvery  = 250 // operations between two expiries of every token
	decryptTries = 10  // logical decrypt requests allowed to verify one ciphertext
	idSlots      = 16  // logical request ids per operation: 1 + decryptTries fit
	idHeader     = "X-Soak-Id"
	mainProject  = "0b2b4b5e2f8041f0a8a7bd0123456789"
	frozen       = "frozen0c4d6e8f0a1b2c3d4e5f60718" // every answer is billing (KMS.0320)
)

// soakFaults are drawn for every request, whatever its action.
var soakFaults = []struct {
	fault kmstest.Fault
	p     float64
}{
	{kmstest.Code("KMS.0101"), 0.02},
	{kmstest.Code("KMS.0102"), 0.015},
	{kmstest.Code("KMS.0323"), 0.015},
	{kmstest.Code("KMS.1108"), 0.015},
	{kmstest.Throttle("0"), 0.02},
	{kmstest.BadGateway(), 0.01},
	{kmstest.HTMLBadGateway(), 0.01},
	{kmstest.Drop(), 0.005},
	{kmstest.DropAfterEffect(), 0.005},
}

// TestSoak sends thousands of KMS operations from many goroutines through one
// Transport to a stand-in injecting every kind of fault, and checks what must
// hold however the faults fall: every ciphertext decrypts back, no key is
// created twice, every failure is a typed *kmsretry.Error naming what the
// server last said, connections and memory stay bounded, and nothing leaks.
func TestSoak(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	ops := soakOps()
	s := newSoak(t, ops)

	s.setup()
	s.run(0, ops/3)
	heapMid, keysMid := liveHeap(), s.srv.Applied("create-key")
	s.run(ops/3, ops)
	heapEnd, keysEnd := liveHeap(), s.srv.Applied("create-key")

	s.checkOutcomes()
	s.checkCreateKey()
	s.checkRefreshAndBilling()
	s.checkConns()
	s.checkHeap(heapMid, heapEnd, keysEnd-keysMid)
	s.report(ops, heapMid, heapEnd)

	s.kt.CloseIdleConnections()
	s.srv.Close()
	if n := s.conns.open.Load(); n != 0 {
		t.Errorf("%d connections still open after CloseIdleConnections: a body was not closed", n)
	}
	goleak.VerifyNone(t, leaks)
}

func soakOps() int {
	switch {
	case *soakOpsFlag > 0:
		return *soakOpsFlag
	case *soakLong:
		return 100_000
	}
	return 5_000
}

// soak is one run: the stand-in, the client, and what both sides counted.
type soak struct {
	t     *testing.T
	seed  uint64
	ctx   context.Context
	srv   *kmstest.Server
	conns *connCounter
	kt    *kmsretry.Transport
	hc    *http.Client
	reg   *prometheus.Registry
	keys  []string

	keysBefore int              // keys created by setup
	thin       bool             // too few operations to expect every fault
	codes      []string         // code by index; 0 is "" (no code)
	index      map[string]int32 // index by code

	// What the server saw of each logical request, by id: the number of
	// attempts, and status<<16 | code index of the last one.
	seen []atomic.Int32
	last []atomic.Int32

	// create-key requests whose connection the server dropped, and those
	// of them it had applied first.
	ckDrops, ckDropsApplied atomic.Int64

	// What the client saw.
	sent, succeeded, failed, lost atomic.Int64
	encrypted, verified           atomic.Int64
	ckOK, ckUnknown               atomic.Int64
	billingSent, billingLatched   atomic.Int64
	fatal0207                     atomic.Int64
	expiries, refreshes           atomic.Int64
	problems                      atomic.Int64
}

func newSoak(t *testing.T, ops int) *soak {
	s := &soak{
		t:     t,
		seed:  *soakSeed,
		conns: &connCounter{},
		reg:   prometheus.NewRegistry(),
		seen:  make([]atomic.Int32, ops*idSlots),
		last:  make([]atomic.Int32, ops*idSlots),
		codes: []string{""},
		index: map[string]int32{"": 0},
		thin:  ops < 5_000,
	}
	for _, e := range kmsretry.Entries() {
		s.index[e.Code] = int32(len(s.codes))
		s.codes = append(s.codes, e.Code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	s.ctx = ctx

	s.srv = kmstest.NewServer(kmstest.WithToken(), kmstest.WithSeed(int64(s.seed)),
		kmstest.WithHook(s.hook))
	t.Cleanup(s.srv.Close)
	s.kt = s.newTransport()
	s.hc = &http.Client{Transport: s.kt}
	return s
}

// newTransport is the transport under test: tiny waits, a token refresher
// fed by the stand-in, metrics, and a billing cool-down short enough to
// expire during the run.
func (s *soak) newTransport() *kmsretry.Transport {
	pool := &http.Transport{
		DialContext:         s.conns.dial,
		MaxIdleConns:        4 * soakWorkers,
		MaxIdleConnsPerHost: 4 * soakWorkers,
		IdleConnTimeout:     time.Minute,
	}
	m, err := kmsretry.NewMetrics(s.reg)
	if err != nil {
		s.t.Fatal(err)
	}
	fetch := func(context.Context) (string, error) {
		s.refreshes.Add(1)
		return s.srv.IssueToken(), nil
	}
	tiny := func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }

	return kmsretry.New(pool,
		kmsretry.WithMetrics(m),
		kmsretry.WithRefresher(kmsretry.NewTokenRefresher(s.srv.IssueToken(), fetch), 0),
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{MaxAttempts: 4, Backoff: tiny}),
		kmsretry.WithPolicy(kmsretry.Throttled, kmsretry.Policy{MaxAttempts: 4, Backoff: tiny}),
		kmsretry.WithBillingCooldown(20*time.Millisecond),
	)
}

// hook records, for each logical request, what the server saw and answered
// last. It runs on the server's goroutines, before the answer is sent.
func (s *soak) hook(r kmstest.Record) {
	if r.Action == "create-key" && r.Fault == "drop" {
		s.ckDrops.Add(1)
		if r.Applied {
			s.ckDropsApplied.Add(1)
		}
	}

	id, err := strconv.Atoi(r.Header.Get(idHeader))
	if err != nil || id < 0 || id >= len(s.seen) {
		return
	}
	code, ok := s.index[r.Code]
	if !ok {
		code = int32(len(s.codes)) // a code the catalogue lacks: matches nothing
	}
	s.seen[id].Add(1)
	s.last[id].Store(int32(r.Status)<<16 | code)
}

// setup creates the keys the operations use, then turns the faults on.
func (s *soak) setup() {
	for i := range 4 {
		o := s.send(-1, mainProject, "create-key", map[string]string{
			"key_alias": fmt.Sprintf("soak-setup-%d", i)})
		var reply struct {
			KeyInfo struct {
				KeyID string `json:"key_id"`
			} `json:"key_info"`
		}
		if o.err != nil || json.Unmarshal(o.body, &reply) != nil || reply.KeyInfo.KeyID == "" {
			s.t.Fatalf("setup: create-key: %v %s", o.err, o.body)
		}
		s.keys = append(s.keys, reply.KeyInfo.KeyID)
	}
	s.keysBefore = s.srv.Applied("create-key")

	for _, f := range soakFaults {
		s.srv.SetRate("", f.fault, f.p)
	}
	// create-key gets more drops of its own, so that ambiguous failures of
	// an unsafe action happen in every run.
	s.srv.SetRate("create-key", kmstest.Drop(), 0.03)
	s.srv.SetRate("create-key", kmstest.DropAfterEffect(), 0.05)
	s.srv.SetRate("gen-random", kmstest.Code("KMS.0320"), 1)
}

// run runs operations [from, to) on soakWorkers goroutines.
func (s *soak) run(from, to int) {
	var next atomic.Int64
	next.Store(int64(from))

	var wg sync.WaitGroup
	for range soakWorkers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < to; i = int(next.Add(1) - 1) {
				s.op(i)
			}
		})
	}
	wg.Wait()
}

// op runs operation i, whose kind and content come from the seed and i alone.
func (s *soak) op(i int) {
	if i%expireEvery == expireEvery-1 {
		s.srv.ExpireTokens()
		s.expiries.Add(1)
	}

	rng := rand.New(rand.NewPCG(s.seed, uint64(i)))
	id := i * idSlots
	key := s.keys[rng.IntN(len(s.keys))]
	switch r := rng.IntN(100); {
	case r < 50:
		s.encryptDecrypt(id, key, plaintext(rng))
	case r < 65:
		s.good(id, "create-datakey", map[string]string{"key_id": key, "datakey_length": "256"})
	case r < 75:
		s.good(id, "describe-key", map[string]string{"key_id": key})
	case r < 80:
		s.createKey(id, fmt.Sprintf("soak-%d-%d", s.seed, i))
	case r < 88:
		s.unknownKey(id, uuid(rng))
	case r < 95:
		s.billing(id)
	default:
		s.good(id, "list-keys", map[string]string{"limit": "10"})
	}
}

// encryptDecrypt encrypts plain and, when that succeeds, decrypts the
// ciphertext until a decrypt succeeds, which must give plain back.
func (s *soak) encryptDecrypt(id int, key, plain string) {
	o := s.good(id, "encrypt-data", map[string]string{"key_id": key, "plain_text": plain})
	if o.err != nil {
		return
	}
	var enc struct {
		CipherText string `json:"cipher_text"`
	}
	if err := json.Unmarshal(o.body, &enc); err != nil || enc.CipherText == "" {
		s.problem("request %d: encrypt-data answered %s", id, o.body)
		return
	}
	s.encrypted.Add(1)

	for k := 1; k <= decryptTries; k++ {
		d := s.good(id+k, "decrypt-data", map[string]string{"cipher_text": enc.CipherText})
		if d.err != nil {
			continue
		}
		var dec struct {
			PlainText string `json:"plain_text"`
		}
		if err := json.Unmarshal(d.body, &dec); err != nil || dec.PlainText != plain {
			s.problem("request %d: decrypted %q, want %q", id+k, dec.PlainText, plain)
			return
		}
		s.verified.Add(1)
		return
	}
	s.problem("request %d: the ciphertext did not decrypt in %d tries", id, decryptTries)
}

// good sends a request that can only fail by an injected fault: its failure
// must be of a class that faults cause.
func (s *soak) good(id int, action string, body map[string]string) outcome {
	o := s.send(id, mainProject, action, body)
	if o.err != nil {
		s.transient(id, o.err)
	}
	return o
}

// transient checks that a failure came from an injected fault.
func (s *soak) transient(id int, e *kmsretry.Error) {
	switch e.Class {
	case kmsretry.Retryable, kmsretry.Throttled, kmsretry.AuthRefresh:
		return
	}
	s.problem("request %d: a fault cannot explain %v (class %v)", id, e, e.Class)
}

// createKey creates a key under a fresh alias. An ambiguous failure must not
// be resent, so a repeat answering KMS.1104 (alias taken) would show one.
func (s *soak) createKey(id int, alias string) {
	o := s.send(id, mainProject, "create-key", map[string]string{"key_alias": alias})
	switch {
	case o.err == nil:
		s.ckOK.Add(1)
	case errors.Is(o.err, kmsretry.ErrOutcomeUnknown):
		// Coded answers may come first, but the drop must end the request.
		s.ckUnknown.Add(1)
		if o.err.Status != 0 {
			s.problem("request %d: outcome unknown with an answer in hand: %v", id, o.err)
		}
	default:
		s.transient(id, o.err)
	}
}

// unknownKey encrypts under a key that does not exist: it must fail, and
// when the server's own answer ends it, with KMS.0207.
func (s *soak) unknownKey(id int, key string) {
	body := map[string]string{"key_id": key, "plain_text": "x"}
	o := s.send(id, mainProject, "encrypt-data", body)
	switch {
	case o.err == nil:
		s.problem("request %d: encrypt-data under a missing key succeeded", id)
	case o.err.Class == kmsretry.Fatal && o.err.Code == "KMS.0207":
		s.fatal0207.Add(1)
	default:
		s.transient(id, o.err)
	}
}

// billing calls the frozen project: every request fails as billing, sent
// once or refused unsent by the latch.
func (s *soak) billing(id int) {
	o := s.send(id, frozen, "gen-random", map[string]string{"random_data_length": "256"})
	switch {
	case o.err == nil:
		s.problem("request %d: a frozen project was served", id)
	case !errors.Is(o.err, kmsretry.ErrBilling) || o.err.Attempts > 1:
		s.problem("request %d: want one billing answer or a latch refusal, got %v", id, o.err)
	case o.err.Attempts == 0:
		s.billingLatched.Add(1)
	default:
		s.billingSent.Add(1)
	}
}

// outcome is how a logical request ended: the body of a success, or the
// typed failure.
type outcome struct {
	body []byte
	err  *kmsretry.Error
}

// send makes one logical request through the client and checks that a
// failure is typed and names the server's last answer. id -1 is not tracked.
func (s *soak) send(id int, project, action string, body map[string]string) outcome {
	s.sent.Add(1)
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost,
		s.srv.ActionURL(project, action), bytes.NewReader(data))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idHeader, strconv.Itoa(id))

	resp, err := s.hc.Do(req)
	if err != nil {
		return s.failure(id, action, err)
	}
	rerr := kmsretry.ResponseError(resp)
	data, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if readErr != nil {
		s.lost.Add(1)
		s.problem("request %d: reading the answer: %v", id, readErr)
		return outcome{err: &kmsretry.Error{Err: readErr}}
	}
	if rerr == nil {
		s.succeeded.Add(1)
		return outcome{body: data}
	}
	return s.failure(id, action, rerr)
}

// failure checks a failed request's error and counts it.
func (s *soak) failure(id int, action string, err error) outcome {
	var e *kmsretry.Error
	if !errors.As(err, &e) {
		s.lost.Add(1)
		s.problem("request %d (%s): untyped error %v", id, action, err)
		return outcome{err: &kmsretry.Error{Err: err}}
	}
	s.failed.Add(1)
	if id >= 0 {
		s.matchServer(id, action, e)
	}
	return outcome{err: e}
}

// matchServer checks that e agrees with what the server saw of request id.
func (s *soak) matchServer(id int, action string, e *kmsretry.Error) {
	seen := int(s.seen[id].Load())
	last := s.last[id].Load()
	status, code := int(last>>16), "?"
	if i := int(last & 0xffff); i < len(s.codes) {
		code = s.codes[i]
	}

	switch {
	case e.Action != action:
		s.problem("request %d: error names action %q, want %q", id, e.Action, action)
	case e.Attempts != seen:
		s.problem("request %d: error counts %d attempts, the server saw %d", id, e.Attempts, seen)
	case seen == 0 && !errors.Is(e, kmsretry.ErrBillingLatched):
		s.problem("request %d: never sent, yet not refused by the latch: %v", id, e)
	case seen == 0:
	case e.Status == 0 && (status != 0 || e.Err == nil):
		s.problem("request %d: no answer in %v, but the server answered %d", id, e, status)
	case e.Status != status || e.Code != code:
		s.problem("request %d: error names %d %q, the server last answered %d %q",
			id, e.Status, e.Code, status, code)
	}
}

// problem reports a broken invariant; past the twentieth it only counts.
func (s *soak) problem(format string, args ...any) {
	if s.problems.Add(1) <= 20 {
		s.t.Errorf(format, args...)
	}
}

// checkOutcomes checks that every request is accounted for, and every
// ciphertext was decrypted back.
func (s *soak) checkOutcomes() {
	sent, ok, failed := s.sent.Load(), s.succeeded.Load(), s.failed.Load()
	if lost := s.lost.Load(); lost != 0 || ok+failed != sent {
		s.t.Errorf("%d requests sent, %d succeeded, %d failed typed, %d lost",
			sent, ok, failed, lost)
	}
	if enc, ver := s.encrypted.Load(), s.verified.Load(); enc != ver {
		s.t.Errorf("%d encryptions succeeded, only %d decrypted back", enc, ver)
	}
	if n := sumCounter(s.t, s.reg, "kmsretry_requests_total", ""); int64(n["all"]) != sent {
		s.t.Errorf("kmsretry_requests_total = %v, want %d, one per logical request", n["all"], sent)
	}
	for _, f := range soakFaults {
		if !s.thin && s.srv.Injected(f.fault.String()) == 0 {
			s.t.Errorf("fault %v was never injected: the mix is too thin to test", f.fault)
		}
	}
}

// checkCreateKey checks that no key was created twice. A create-key that
// succeeded was applied once. One whose connection dropped was sent once and
// ended in ErrOutcomeUnknown, applied or not. Nothing else applies a key, and
// coded faults answer before the action.
func (s *soak) checkCreateKey() {
	applied := int64(s.srv.Applied("create-key") - s.keysBefore)
	ok, unknown := s.ckOK.Load(), s.ckUnknown.Load()
	drops, dropsApplied := s.ckDrops.Load(), s.ckDropsApplied.Load()

	if applied < ok || applied > ok+unknown {
		s.t.Errorf("%d keys created; the client saw %d succeed and %d end unknown",
			applied, ok, unknown)
	}
	if applied != ok+dropsApplied {
		s.t.Errorf("%d keys created, want %d successes + %d applied before a drop",
			applied, ok, dropsApplied)
	}
	if unknown != drops {
		s.t.Errorf("%d create-key drops, but %d requests ended in ErrOutcomeUnknown",
			drops, unknown)
	}
	if unknown == 0 && !s.thin {
		s.t.Errorf("no create-key ended in ErrOutcomeUnknown: the mix is too thin to test")
	}
}

// checkRefreshAndBilling checks the single flight of refreshes and the
// billing latch.
func (s *soak) checkRefreshAndBilling() {
	if r, e := s.refreshes.Load(), s.expiries.Load(); r > e || r < 1 && !s.thin {
		s.t.Errorf("%d refreshes for %d token expiries: want 1 to %d", r, e, e)
	}
	if got, want := int64(s.srv.Requests("gen-random")), s.billingSent.Load(); got != want {
		s.t.Errorf("the frozen project got %d requests; the client saw %d answered", got, want)
	}
	if !s.thin && (s.billingSent.Load() == 0 || s.billingLatched.Load() == 0) {
		s.t.Errorf("billing: %d answered, %d refused by the latch; want both",
			s.billingSent.Load(), s.billingLatched.Load())
	}
}

// checkConns checks that connections are reused: new ones are dialled only
// to replace those the server dropped, and few are open at once.
func (s *soak) checkConns() {
	dials, peak := s.conns.dials.Load(), s.conns.peak.Load()
	drops := int64(s.srv.Injected("drop"))
	if limit := int64(2*soakWorkers + 8); peak > limit {
		s.t.Errorf("%d connections open at once, want at most %d", peak, limit)
	}
	if limit := drops + 2*soakWorkers + 8; dials > limit {
		s.t.Errorf("%d connections dialled for %d drops, want at most %d", dials, drops, limit)
	}
}

// checkHeap checks that the live heap does not grow with the number of
// requests. The stand-in keeps every key it creates, about 1 KiB each.
func (s *soak) checkHeap(mid, end uint64, keys int) {
	limit := uint64(4<<20 + keys<<10)
	if end > mid && end-mid > limit {
		s.t.Errorf("live heap grew from %d to %d bytes over the last 2/3 of the run, "+
			"more than %d", mid, end, limit)
	}
}

// report logs the run's figures.
func (s *soak) report(ops int, heapMid, heapEnd uint64) {
	t := s.t
	t.Logf("seed %d: %d operations, %d logical requests from %d goroutines, %d attempts",
		s.seed, ops, s.sent.Load(), soakWorkers, s.srv.Requests(""))
	t.Logf("succeeded %d, failed typed %d, lost %d; %d ciphertexts decrypted back",
		s.succeeded.Load(), s.failed.Load(), s.lost.Load(), s.verified.Load())
	t.Logf("retries by class %v", sumCounter(t, s.reg, "kmsretry_retries_total", "class"))
	t.Logf("requests by outcome %v", sumCounter(t, s.reg, "kmsretry_requests_total", "outcome"))
	t.Logf("retries refused by the budget %v",
		sumCounter(t, s.reg, "kmsretry_retry_budget_exhausted_total", "")["all"])
	t.Logf("faults injected %v", s.srv.Stats().Faults)
	t.Logf("refreshes %d for %d token expiries", s.refreshes.Load(), s.expiries.Load())
	t.Logf("create-key: %d succeeded, %d outcome unknown, %d dropped (%d after the effect)",
		s.ckOK.Load(), s.ckUnknown.Load(), s.ckDrops.Load(), s.ckDropsApplied.Load())
	t.Logf("billing: %d answered, %d refused by the latch; missing key: %d KMS.0207",
		s.billingSent.Load(), s.billingLatched.Load(), s.fatal0207.Load())
	t.Logf("connections: %d dialled, at most %d open at once",
		s.conns.dials.Load(), s.conns.peak.Load())
	t.Logf("live heap: %d KiB at 1/3, %d KiB at the end", heapMid>>10, heapEnd>>10)
}

// sumCounter adds up the counter name of reg by the values of label, or
// altogether under "all" when label is "".
func sumCounter(t *testing.T, reg *prometheus.Registry, name, label string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}

	sums := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := "all"
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					key = lp.GetValue()
				}
			}
			sums[key] += m.GetCounter().GetValue()
		}
	}
	return sums
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// plaintext returns 1 to 64 printable characters.
func plaintext(rng *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =;:/-_"
	b := make([]byte, 1+rng.IntN(64))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

// uuid returns a well-formed key id that no key has.
func uuid(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff,
		rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
}

// connCounter counts the client's connections: dialled, open now, and the
// most open at once.
type connCounter struct {
	dials, open, peak atomic.Int64
}

func (c *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}

	c.dials.Add(1)
	n := c.open.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	return &countedConn{Conn: conn, c: c}, nil
}

// countedConn counts itself closed once.
type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.open.Add(-1) })
	return cc.Conn.Close()
}
