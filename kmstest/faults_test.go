package kmstest_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

func TestFaultShapes(t *testing.T) {
	tests := []struct {
		name       string
		fault      kmstest.Fault
		status     int
		code       string
		flat       bool
		retryAfter string
	}{
		{"documented 500", kmstest.Code("KMS.0101"), 500, "KMS.0101", false, ""},
		{"documented 404", kmstest.Code("KMS.0207"), 404, "KMS.0207", false, ""},
		{"documented 403", kmstest.Code("KMS.0303"), 403, "KMS.0303", false, ""},
		{"undocumented", kmstest.CodeWithStatus("KMS.0104", 503), 503, "KMS.0104", false, ""},
		{"throttle", kmstest.Throttle("1"), 429, "APIGW.0308", true, "1"},
		{"throttle no header", kmstest.Throttle(""), 429, "APIGW.0308", true, ""},
		{"gateway by code", kmstest.Code("APIGW.0308"), 429, "APIGW.0308", true, ""},
		{"old gateway prefix", kmstest.CodeWithStatus("APIG.0201", 504), 504, "APIG.0201", true,
			""},
		{"bad gateway", kmstest.BadGateway(), 502, "APIGW.0201", true, ""},
		{"custom message", kmstest.Fault{Code: "KMS.0102", Message: "disk full"}, 500,
			"KMS.0102", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := kmstest.NewServer(kmstest.WithScript("create-key", tt.fault))
			defer s.Close()

			r := post(t, s, "create-key", `{"key_alias":"a"}`)
			id := r.Header.Get("X-Request-Id")
			if r.Status != tt.status || id == "" {
				t.Fatalf("status %d, X-Request-Id %q: %s", r.Status, id, r.Body)
			}
			if got := r.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type %q", ct)
			}

			m := obj(t, r)
			if tt.flat {
				if m["error_code"] != tt.code || m["request_id"] != id || m["error_msg"] == "" {
					t.Fatalf("flat body %s", r.Body)
				}
				if _, nested := m["error"]; nested {
					t.Fatalf("flat body is nested: %s", r.Body)
				}
			} else {
				wantCode(t, r, tt.code, tt.status)
				if str(t, r, "error", "error_msg") == "" || len(m) != 1 {
					t.Fatalf("nested body %s", r.Body)
				}
			}
			if tt.fault.Message != "" && !strings.Contains(string(r.Body), tt.fault.Message) {
				t.Fatalf("body %s lacks the message", r.Body)
			}

			if s.Applied("create-key") != 0 || s.Injected(tt.code) != 1 {
				t.Fatalf("stats %+v", s.Stats())
			}
		})
	}
}

func TestHTMLBadGateway(t *testing.T) {
	s := kmstest.NewServer(kmstest.WithScript("", kmstest.HTMLBadGateway(),
		kmstest.Fault{Kind: kmstest.KindHTML, Status: 504, RetryAfter: "2"}))
	defer s.Close()

	tests := []struct {
		status     int
		retryAfter string
	}{
		{502, ""},
		{504, "2"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			r := post(t, s, "gen-random", `{"random_data_length":"512"}`)
			if r.Status != tt.status || r.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("status %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/html" {
				t.Fatalf("Content-Type %q", ct)
			}
			if id := r.Header.Get("X-Request-Id"); id != "" {
				t.Fatalf("a proxy page carries X-Request-Id %q", id)
			}
			title := fmt.Sprintf("%d %s", tt.status, http.StatusText(tt.status))
			if !strings.Contains(string(r.Body), "<title>"+title+"</title>") {
				t.Fatalf("body %q", r.Body)
			}
		})
	}

	if got := s.Injected("html"); got != 2 {
		t.Fatalf("Injected(html) = %d", got)
	}
}

func TestDrop(t *testing.T) {
	tests := []struct {
		name    string
		fault   kmstest.Fault
		applied int
	}{
		{"before effect", kmstest.Drop(), 0},
		{"after effect", kmstest.DropAfterEffect(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := kmstest.NewServer(kmstest.WithScript("create-key", tt.fault))
			defer s.Close()

			// A connection already in the pool shows the drop is not a dial failure.
			wantOK(t, post(t, s, "list-keys", "{}"))

			if r, err := do(s, "create-key", `{"key_alias":"a"}`); err == nil {
				t.Fatalf("a dropped connection answered %d: %s", r.Status, r.Body)
			}
			if s.Requests("create-key") != 1 || s.Applied("create-key") != tt.applied {
				t.Fatalf("stats %+v", s.Stats())
			}
			if s.Injected("drop") != 1 {
				t.Fatalf("Injected(drop) = %d", s.Injected("drop"))
			}

			total := obj(t, post(t, s, "list-keys", "{}"))["total"]
			if total != float64(tt.applied) {
				t.Fatalf("list-keys total %v, want %d", total, tt.applied)
			}
		})
	}
}

func TestCodeAfterEffect(t *testing.T) {
	f := kmstest.Code("KMS.0101")
	f.AfterEffect = true
	s := kmstest.NewServer(kmstest.WithScript("create-key", f))
	defer s.Close()

	wantCode(t, post(t, s, "create-key", `{"key_alias":"a"}`), "KMS.0101", 500)
	wantCode(t, post(t, s, "create-key", `{"key_alias":"a"}`), "KMS.1104", 400)
	if s.Applied("create-key") != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

func TestScriptOrder(t *testing.T) {
	s := kmstest.NewServer(kmstest.WithScript("gen-random", kmstest.Code("KMS.0101")))
	defer s.Close()
	s.Script("gen-random", kmstest.Code("KMS.0102"))
	s.Script("", kmstest.BadGateway(), kmstest.Throttle("0"))

	if s.Pending("gen-random") != 2 || s.Pending("") != 2 {
		t.Fatalf("Pending = %d, %d", s.Pending("gen-random"), s.Pending(""))
	}

	steps := []struct {
		action string
		status int
		code   string
	}{
		{"gen-random", 500, "KMS.0101"},
		{"list-keys", 502, "APIGW.0201"},
		{"gen-random", 500, "KMS.0102"},
		{"gen-random", 429, "APIGW.0308"},
		{"gen-random", 200, ""},
		{"list-keys", 200, ""},
	}
	for i, st := range steps {
		r := post(t, s, st.action, `{"random_data_length":"512"}`)
		got := code(t, r)
		if got == "" {
			got = str(t, r, "error_code")
		}
		if r.Status != st.status || got != st.code {
			t.Fatalf("step %d %s: got %d %q, want %d %q", i, st.action, r.Status, got,
				st.status, st.code)
		}
	}

	if s.Pending("gen-random") != 0 || s.Pending("") != 0 {
		t.Fatal("scripts not consumed")
	}
}

// outcomes sends n gen-random requests one at a time and returns what each answered.
func outcomes(t *testing.T, s *kmstest.Server, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		r := post(t, s, "gen-random", `{"random_data_length":"512"}`)
		out[i] = fmt.Sprint(r.Status, code(t, r), str(t, r, "error_code"))
	}
	return out
}

func TestSeededRatesRepeat(t *testing.T) {
	start := func(seed int64) *kmstest.Server {
		return kmstest.NewServer(
			kmstest.WithSeed(seed),
			kmstest.WithRate("gen-random", kmstest.Code("KMS.0101"), 0.25),
			kmstest.WithRate("", kmstest.Throttle("0"), 0.25),
		)
	}
	a, b, c := start(42), start(42), start(43)
	defer a.Close()
	defer b.Close()
	defer c.Close()

	const n = 200
	ra, rb, rc := outcomes(t, a, n), outcomes(t, b, n), outcomes(t, c, n)
	if !slices.Equal(ra, rb) {
		t.Fatal("two servers with the same seed injected different faults")
	}
	if slices.Equal(ra, rc) {
		t.Fatal("two servers with different seeds injected the same faults")
	}

	for _, name := range []string{"KMS.0101", "APIGW.0308"} {
		if got := a.Injected(name); got < n/8 || got > n/2 {
			t.Errorf("Injected(%s) = %d of %d at rate 0.25", name, got, n)
		}
	}
	st := a.Stats()
	if st.Applied["gen-random"]+a.Injected("") != n {
		t.Fatalf("applied %d + injected %d != %d", st.Applied["gen-random"], a.Injected(""), n)
	}
}

func TestSetRate(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	body := `{"random_data_length":"512"}`

	s.SetRate("gen-random", kmstest.Code("KMS.0102"), 1)
	for range 3 {
		wantCode(t, post(t, s, "gen-random", body), "KMS.0102", 500)
	}
	wantOK(t, post(t, s, "list-keys", "{}"))

	s.SetRate("gen-random", kmstest.Code("KMS.0102"), 0)
	wantOK(t, post(t, s, "gen-random", body))

	s.SetRate("", kmstest.BadGateway(), 1)
	s.Script("gen-random", kmstest.Code("KMS.0101"))
	wantCode(t, post(t, s, "gen-random", body), "KMS.0101", 500)
	if r := post(t, s, "gen-random", body); r.Status != 502 {
		t.Fatalf("status %d, want 502", r.Status)
	}

	s.ClearFaults()
	wantOK(t, post(t, s, "gen-random", body))
}

func TestFaultSetupPanics(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	tests := []struct {
		name string
		f    func()
	}{
		{"unknown code", func() { kmstest.Code("KMS.9999") }},
		{"rate above 1", func() { s.SetRate("", kmstest.Drop(), 1.5) }},
		{"negative rate", func() { kmstest.NewServer(kmstest.WithRate("", kmstest.Drop(), -1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestFaultString(t *testing.T) {
	tests := []struct {
		f    kmstest.Fault
		want string
	}{
		{kmstest.Code("KMS.0101"), "KMS.0101"},
		{kmstest.Throttle("0"), "APIGW.0308"},
		{kmstest.BadGateway(), "APIGW.0201"},
		{kmstest.HTMLBadGateway(), "html"},
		{kmstest.Drop(), "drop"},
		{kmstest.DropAfterEffect(), "drop"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}
