package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/kmstest"
)

// workloadProject is the project id of the workload's requests.
const workloadProject = "workload"

// callsPerRecord is how many KMS calls one record needs: create-datakey and encrypt-data to
// seal it, decrypt-datakey and decrypt-data to open it.
const callsPerRecord = 4

// faultMix is what answers the workload's requests in place of the service, each fault with
// its share of the fault rate. Every action of the workload is safe to repeat, so dropped
// connections are resent too.
var faultMix = []struct {
	fault kmstest.Fault
	share float64
}{
	{kmstest.Code("KMS.0101"), 0.25},
	{kmstest.Code("KMS.0102"), 0.10},
	{kmstest.BadGateway(), 0.15},
	{kmstest.HTMLBadGateway(), 0.10},
	{kmstest.Throttle("0"), 0.25},
	{kmstest.Drop(), 0.10},
	{kmstest.Code("KMS.0303"), authShare},
}

// workloadActions are the actions that meet faults: the four calls of every record.
var workloadActions = []string{"create-datakey", "encrypt-data", "decrypt-datakey", "decrypt-data"}

// record is one piece of data to protect, and what sealing it produced.
type record struct {
	id      string
	payload []byte // sealed here under a data key
	secret  string // small enough to send to encrypt-data

	wrappedKey string // the data key, encrypted by KMS under the master key
	sealed     []byte // the payload, sealed under the data key
	sealedText string // the secret, encrypted by KMS
}

// workloadResult is what the workload leaves for the summary and the verdict.
type workloadResult struct {
	failures []error
	stats    kmstest.Stats
	expiries int
}

// runWorkload seals and opens cfg.records records through a client of a stand-in that
// injects faults at cfg.faultRate, cfg.concurrency at a time. It expires every token twice
// on the way. It returns an error only when it cannot start.
func (d *demo) runWorkload(ctx context.Context, w io.Writer) (workloadResult, error) {
	cfg := d.cfg
	srv := kmstest.NewServer(kmstest.WithToken(), kmstest.WithSeed(cfg.seed))
	defer srv.Close()

	m, err := d.metrics(phaseWorkload)
	if err != nil {
		return workloadResult{}, err
	}
	prog := newProgress(w, cfg.records, cfg.quiet)
	client, _ := d.client(srv, kmsretry.WithMetrics(m), kmsretry.WithHook(prog.observe))
	env := envelope{kms: kms{http: client, srv: srv}}
	env.keyID, err = env.createKey(ctx, workloadProject, "workload-key")
	if err != nil {
		return workloadResult{}, fmt.Errorf("creating the master key: %w", err)
	}

	for _, action := range workloadActions {
		for _, f := range faultMix {
			srv.SetRate(action, f.fault, f.share*cfg.faultRate)
		}
	}

	records := makeRecords(cfg.seed, cfg.records)
	if !cfg.quiet {
		fmt.Fprintf(w, "Workload: %d records, %d at a time, %.0f%% of requests met by a fault.\n",
			cfg.records, cfg.concurrency, 100*cfg.faultRate)
	}

	start := time.Now()
	prog.start()
	failures := env.all(ctx, records, cfg.concurrency, func(err error) {
		// Expire every token a third and two thirds of the way through.
		if n := prog.record(err); n == cfg.records/3 || n == 2*cfg.records/3 {
			srv.ExpireTokens()
			prog.expired()
		}
	})
	prog.stop()
	if !cfg.quiet {
		fmt.Fprintf(w, "Workload took %.1fs.\n", time.Since(start).Seconds())
	}

	expiries := int(prog.expiries.Load())
	return workloadResult{failures: failures, stats: srv.Stats(), expiries: expiries}, nil
}

// makeRecords returns n records whose contents follow from seed.
func makeRecords(seed int64, n int) []record {
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	records := make([]record, n)
	for i := range records {
		payload := make([]byte, 64+rng.IntN(960))
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		records[i] = record{
			id:      fmt.Sprintf("record-%05d", i),
			payload: payload,
			secret:  fmt.Sprintf("%016x", rng.Uint64()),
		}
	}
	return records
}

// envelope seals records with data keys from KMS and opens them again.
type envelope struct {
	kms
	keyID string
}

// all round-trips every record, limit at a time, calls done as each ends, and returns the
// failures sorted by record.
func (e envelope) all(ctx context.Context, records []record, limit int, done func(error)) []error {
	var (
		g        errgroup.Group
		mu       sync.Mutex
		failures []error
	)
	g.SetLimit(limit)

	for i := range records {
		g.Go(func() error {
			err := e.roundTrip(ctx, &records[i])
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Errorf("%s: %w", records[i].id, err))
				mu.Unlock()
			}
			done(err)
			return nil
		})
	}
	_ = g.Wait()

	slices.SortFunc(failures, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return failures
}

// roundTrip seals r and opens it again, and checks that it came back intact.
func (e envelope) roundTrip(ctx context.Context, r *record) error {
	if err := e.seal(ctx, r); err != nil {
		return fmt.Errorf("sealing: %w", err)
	}
	if err := e.open(ctx, r); err != nil {
		return fmt.Errorf("opening: %w", err)
	}
	return nil
}

// seal gets a data key from create-datakey, seals the payload under it here, and has KMS
// encrypt the secret with encrypt-data. Both are bound to the record's id.
func (e envelope) seal(ctx context.Context, r *record) error {
	bind := map[string]string{"record": r.id}

	var dk struct {
		PlainText  string `json:"plain_text"`
		CipherText string `json:"cipher_text"`
	}
	in := map[string]any{"key_id": e.keyID, "datakey_length": "256", "encryption_context": bind}
	if err := e.call(ctx, workloadProject, "create-datakey", in, &dk); err != nil {
		return err
	}
	sealed, err := sealLocally(dk.PlainText, r.payload, r.id)
	if err != nil {
		return err
	}

	var enc struct {
		CipherText string `json:"cipher_text"`
	}
	in = map[string]any{"key_id": e.keyID, "plain_text": r.secret, "encryption_context": bind}
	if err := e.call(ctx, workloadProject, "encrypt-data", in, &enc); err != nil {
		return err
	}

	r.wrappedKey, r.sealed, r.sealedText = dk.CipherText, sealed, enc.CipherText
	return nil
}

// open has KMS decrypt the data key and the secret, opens the payload here, and compares
// both with the originals.
func (e envelope) open(ctx context.Context, r *record) error {
	bind := map[string]string{"record": r.id}

	var dk struct {
		DataKey string `json:"data_key"`
	}
	in := map[string]any{"key_id": e.keyID, "cipher_text": r.wrappedKey,
		"datakey_cipher_length": "32", "encryption_context": bind}
	if err := e.call(ctx, workloadProject, "decrypt-datakey", in, &dk); err != nil {
		return err
	}
	payload, err := openLocally(dk.DataKey, r.sealed, r.id)
	if err != nil {
		return err
	}

	var dec struct {
		PlainText string `json:"plain_text"`
	}
	in = map[string]any{"cipher_text": r.sealedText, "encryption_context": bind}
	if err := e.call(ctx, workloadProject, "decrypt-data", in, &dec); err != nil {
		return err
	}

	if !bytes.Equal(payload, r.payload) || dec.PlainText != r.secret {
		return errors.New("the record came back changed")
	}
	return nil
}

// sealLocally seals plain with AES-256-GCM under the data key in hexKey, bound to id.
func sealLocally(hexKey string, plain []byte, id string) ([]byte, error) {
	aead, err := dataKey(hexKey)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nil, plain, []byte(id)), nil
}

// openLocally opens what sealLocally sealed.
func openLocally(hexKey string, sealed []byte, id string) ([]byte, error) {
	aead, err := dataKey(hexKey)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, nil, sealed, []byte(id))
}

// dataKey returns AES-256-GCM with random nonces under the data key in hexKey.
func dataKey(hexKey string) (cipher.AEAD, error) {
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return cipher.NewGCMWithRandomNonce(block)
}
