package kmstest_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

func TestCountersExact(t *testing.T) {
	s := kmstest.NewServer(kmstest.WithScript("encrypt-data",
		kmstest.Code("KMS.0101"), kmstest.Throttle("0"), kmstest.Drop()))
	defer s.Close()

	id := createKey(t, s, "counted")
	createKey(t, s, "counted-too")
	post(t, s, "create-key", `{"key_alias":"counted"}`)
	post(t, s, "encrypt-data", map[string]string{"key_id": id, "plain_text": "x"})
	post(t, s, "encrypt-data", map[string]string{"key_id": id, "plain_text": "x"})
	_, err := do(s, "encrypt-data", map[string]string{"key_id": id, "plain_text": "x"})
	if err == nil {
		t.Fatal("drop answered")
	}
	ct := encrypt(t, s, id, "x")
	post(t, s, "decrypt-data", map[string]string{"cipher_text": ct})
	post(t, s, "no-such-action", "{}")

	want := kmstest.Stats{
		Requests: map[string]int{"create-key": 3, "encrypt-data": 4, "decrypt-data": 1,
			"no-such-action": 1},
		Applied: map[string]int{"create-key": 2, "encrypt-data": 1, "decrypt-data": 1},
		Faults:  map[string]int{"KMS.0101": 1, "APIGW.0308": 1, "drop": 1},
	}
	got := s.Stats()
	if !maps.Equal(got.Requests, want.Requests) || !maps.Equal(got.Applied, want.Applied) ||
		!maps.Equal(got.Faults, want.Faults) {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}

	shortcuts := []struct {
		name      string
		got, want int
	}{
		{`Requests("")`, s.Requests(""), 9},
		{`Requests("encrypt-data")`, s.Requests("encrypt-data"), 4},
		{`Applied("")`, s.Applied(""), 4},
		{`Applied("list-keys")`, s.Applied("list-keys"), 0},
		{`Injected("")`, s.Injected(""), 3},
		{`Injected("drop")`, s.Injected("drop"), 1},
	}
	for _, sc := range shortcuts {
		if sc.got != sc.want {
			t.Errorf("%s = %d, want %d", sc.name, sc.got, sc.want)
		}
	}

	got.Requests["create-key"] = 100
	if s.Requests("create-key") != 3 {
		t.Fatal("a snapshot shares its maps with the server")
	}
}

func TestLastRequest(t *testing.T) {
	s := kmstest.NewServer(kmstest.WithScript("gen-random", kmstest.Drop()))
	defer s.Close()

	if s.LastBody("gen-random") != nil || s.LastHeader("gen-random") != nil {
		t.Fatal("a request is recorded before any came")
	}

	bodies := []string{
		"{ \"random_data_length\" :\t\"512\" }\n",
		`{"random_data_length":"512","extra":[1,2,3]}`,
	}
	for i, body := range bodies {
		_, _ = do(s, "gen-random", body, "X-Trace", fmt.Sprint(i))
		if got := s.LastBody("gen-random"); string(got) != body {
			t.Fatalf("LastBody = %q, want %q", got, body)
		}
		if got := s.LastHeader("gen-random").Get("X-Trace"); got != fmt.Sprint(i) {
			t.Fatalf("LastHeader X-Trace = %q", got)
		}
	}

	b := s.LastBody("gen-random")
	b[0] = 'X'
	s.LastHeader("gen-random").Set("X-Trace", "changed")
	if s.LastBody("gen-random")[0] != '{' || s.LastHeader("gen-random").Get("X-Trace") != "1" {
		t.Fatal("LastBody or LastHeader shares memory with the server")
	}
}

func TestHook(t *testing.T) {
	var (
		mu   sync.Mutex
		recs []kmstest.Record
	)
	hook := func(r kmstest.Record) {
		mu.Lock()
		defer mu.Unlock()
		recs = append(recs, r)
	}
	s := kmstest.NewServer(kmstest.WithHook(hook),
		kmstest.WithScript("create-key", kmstest.Throttle("0"), kmstest.DropAfterEffect()))
	defer s.Close()

	post(t, s, "create-key", `{"key_alias":"a"}`)
	_, _ = do(s, "create-key", `{"key_alias":"a"}`)
	ok := post(t, s, "create-key", `{"key_alias":"b"}`)
	post(t, s, "create-key", `{"key_alias":"b"}`)
	resp, err := s.Client().Get(s.URL + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	want := []kmstest.Record{
		{Action: "create-key", Status: 429, Code: "APIGW.0308", Fault: "APIGW.0308"},
		{Action: "create-key", Status: 0, Fault: "drop", Applied: true},
		{Action: "create-key", Status: 200, Applied: true},
		{Action: "create-key", Status: 400, Code: "KMS.1104"},
		{Action: "", Status: 404, Code: "APIGW.0101"},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if r.Action != w.Action || r.Status != w.Status || r.Code != w.Code ||
			r.Fault != w.Fault || r.Applied != w.Applied {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
		if (r.RequestID == "") != (w.Status == 0) {
			t.Errorf("record %d: RequestID %q", i, r.RequestID)
		}
	}
	if recs[2].RequestID != ok.Header.Get("X-Request-Id") {
		t.Error("the record's RequestID differs from the header sent")
	}
	if string(recs[2].Body) != `{"key_alias":"b"}` || recs[2].Method != http.MethodPost {
		t.Errorf("record 2 = %+v", recs[2])
	}
}

func TestConcurrentClients(t *testing.T) {
	const n = 200
	s := kmstest.NewServer(kmstest.WithRate("decrypt-data", kmstest.Code("KMS.0101"), 0.3))
	defer s.Close()

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := roundTrip(s, i); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	faults := s.Injected("KMS.0101")
	checks := []struct {
		name      string
		got, want int
	}{
		{"create-key requests", s.Requests("create-key"), n},
		{"create-key applied", s.Applied("create-key"), n},
		{"encrypt-data applied", s.Applied("encrypt-data"), n},
		{"decrypt-data requests", s.Requests("decrypt-data"), n + faults},
		{"decrypt-data applied", s.Applied("decrypt-data"), n},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if faults == 0 {
		t.Error("no fault injected at rate 0.3")
	}
	if total := obj(t, post(t, s, "list-keys", "{}"))["total"]; total != float64(n) {
		t.Errorf("list-keys total %v, want %d", total, n)
	}
}

// roundTrip creates a key, encrypts with it and decrypts, retrying decrypt-data while it
// answers 500.
func roundTrip(s *kmstest.Server, i int) error {
	var created struct {
		KeyInfo struct {
			KeyID string `json:"key_id"`
		} `json:"key_info"`
	}
	err := call(s, "create-key", map[string]string{"key_alias": alias(i)}, &created)
	if err != nil {
		return err
	}

	plain := fmt.Sprintf("message %d", i)
	var sealed struct {
		CipherText string `json:"cipher_text"`
	}
	body := map[string]string{"key_id": created.KeyInfo.KeyID, "plain_text": plain}
	if err := call(s, "encrypt-data", body, &sealed); err != nil {
		return err
	}

	for {
		r, err := do(s, "decrypt-data", map[string]string{"cipher_text": sealed.CipherText})
		if err != nil {
			return err
		}
		if r.Status == http.StatusInternalServerError {
			continue
		}

		var opened struct {
			PlainText string `json:"plain_text"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &opened) != nil {
			return fmt.Errorf("decrypt-data: %d %s", r.Status, r.Body)
		}
		if opened.PlainText != plain {
			return fmt.Errorf("decrypted %q, want %q", opened.PlainText, plain)
		}
		return nil
	}
}

// call posts body to action and decodes a 200 answer into out.
func call(s *kmstest.Server, action string, body, out any) error {
	r, err := do(s, action, body)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("%s: %d %s", action, r.Status, r.Body)
	}
	return json.Unmarshal(r.Body, out)
}
