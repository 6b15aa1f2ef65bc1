package kmstest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kmsretry/kmsretry/kmstest"
)

func TestEncryptDecrypt(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "data")

	tests := []struct {
		name    string
		plain   string
		context map[string]string
	}{
		{"ascii", "hello, world", nil},
		{"unicode", "密钥管理 ✓", nil},
		{"longest", strings.Repeat("p", 4096), nil},
		{"with context", "bound", map[string]string{"table": "orders", "row": "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s, "encrypt-data", map[string]any{
				"key_id": id, "plain_text": tt.plain, "encryption_context": tt.context,
			})
			wantOK(t, r)
			ct := str(t, r, "cipher_text")
			if str(t, r, "key_id") != id || strings.Contains(ct, tt.plain) {
				t.Fatalf("encrypt-data answered %s", r.Body)
			}

			r = post(t, s, "decrypt-data", map[string]any{
				"cipher_text": ct, "encryption_context": tt.context,
			})
			wantOK(t, r)
			if got := str(t, r, "plain_text"); got != tt.plain {
				t.Fatalf("plain_text %q, want %q", got, tt.plain)
			}
			if got := str(t, r, "key_id"); got != id {
				t.Fatalf("key_id %q, want %q", got, id)
			}
			b64 := base64.StdEncoding.EncodeToString([]byte(tt.plain))
			if got := str(t, r, "plain_text_base64"); got != b64 {
				t.Fatalf("plain_text_base64 %q", got)
			}
		})
	}
}

func TestEncryptionIsRandomized(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "nonce")

	if encrypt(t, s, id, "same") == encrypt(t, s, id, "same") {
		t.Fatal("two encryptions of the same text are equal")
	}
}

func TestDecryptErrors(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "victim")
	other := createKey(t, s, "other")
	ct := encrypt(t, s, id, "secret")
	blob, _ := base64.StdEncoding.DecodeString(ct)

	edit := func(f func(b []byte)) string {
		b := append([]byte(nil), blob...)
		f(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	unknownID := "0d0466b0-e727-4d9c-b35d-f84bb474a37f"

	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"missing", map[string]any{}, 400, "KMS.0204"},
		{"not base64", map[string]any{"cipher_text": "%%%"}, 400, "KMS.0308"},
		{"truncated", map[string]any{"cipher_text": ct[:40]}, 400, "KMS.0308"},
		{"last byte flipped", map[string]any{
			"cipher_text": edit(func(b []byte) { b[len(b)-1] ^= 1 })}, 400, "KMS.2203"},
		{"other key named", map[string]any{
			"cipher_text": edit(func(b []byte) { copy(b[1:], other) })}, 400, "KMS.2203"},
		{"unknown key named", map[string]any{
			"cipher_text": edit(func(b []byte) { copy(b[1:], unknownID) })}, 404, "KMS.0207"},
		{"context added", map[string]any{
			"cipher_text": ct, "encryption_context": map[string]string{"a": "b"}}, 400, "KMS.2203"},
		{"context not strings", map[string]any{
			"cipher_text": ct, "encryption_context": map[string]int{"a": 1}}, 400, "KMS.0208"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, post(t, s, "decrypt-data", tt.body), tt.code, tt.status)
		})
	}

	t.Run("key disabled", func(t *testing.T) {
		wantOK(t, post(t, s, "disable-key", map[string]string{"key_id": id}))
		defer post(t, s, "enable-key", map[string]string{"key_id": id})
		wantCode(t, post(t, s, "decrypt-data", map[string]string{"cipher_text": ct}),
			"KMS.0209", 400)
	})
}

func TestEncryptErrors(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "k")

	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"key missing", map[string]any{"plain_text": "x"}, 400, "KMS.0204"},
		{"key malformed", map[string]any{"key_id": "k", "plain_text": "x"}, 400, "KMS.0205"},
		{"key unknown", map[string]any{
			"key_id": "0d0466b0-e727-4d9c-b35d-f84bb474a37f", "plain_text": "x"}, 404, "KMS.0207"},
		{"text missing", map[string]any{"key_id": id}, 400, "KMS.0204"},
		{"text too long", map[string]any{
			"key_id": id, "plain_text": strings.Repeat("x", 4097)}, 400, "KMS.0308"},
		{"context not an object", map[string]any{
			"key_id": id, "plain_text": "x", "encryption_context": "a=b"}, 400, "KMS.0208"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, post(t, s, "encrypt-data", tt.body), tt.code, tt.status)
		})
	}
}

func TestDatakeyRoundTrip(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "envelope")

	tests := []struct {
		name  string
		body  map[string]any
		bytes int
	}{
		{"default", map[string]any{"key_id": id}, 64},
		{"length string", map[string]any{"key_id": id, "datakey_length": "8"}, 1},
		{"length number", map[string]any{"key_id": id, "datakey_length": 8192}, 1024},
		{"AES_128", map[string]any{"key_id": id, "key_spec": "AES_128"}, 16},
		{"AES_256", map[string]any{"key_id": id, "key_spec": "AES_256"}, 32},
		{"context", map[string]any{
			"key_id": id, "encryption_context": map[string]string{"k": "v"}}, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s, "create-datakey", tt.body)
			wantOK(t, r)
			plain, err := hex.DecodeString(str(t, r, "plain_text"))
			if err != nil || len(plain) != tt.bytes {
				t.Fatalf("plain_text of %d bytes (%v), want %d", len(plain), err, tt.bytes)
			}

			r = post(t, s, "decrypt-datakey", map[string]any{
				"key_id":                id,
				"cipher_text":           str(t, r, "cipher_text"),
				"datakey_cipher_length": len(plain),
				"encryption_context":    tt.body["encryption_context"],
			})
			wantOK(t, r)
			got, _ := hex.DecodeString(str(t, r, "data_key"))
			if string(got) != string(plain) {
				t.Fatalf("data_key differs from plain_text")
			}
			sum := sha256.Sum256(plain)
			if !strings.EqualFold(str(t, r, "datakey_dgst"), hex.EncodeToString(sum[:])) {
				t.Fatalf("datakey_dgst %q", str(t, r, "datakey_dgst"))
			}
		})
	}

	t.Run("without plaintext", func(t *testing.T) {
		r := post(t, s, "create-datakey-without-plaintext", map[string]any{"key_id": id})
		wantOK(t, r)
		if _, has := obj(t, r)["plain_text"]; has {
			t.Fatalf("answer holds plain_text: %s", r.Body)
		}

		r = post(t, s, "decrypt-datakey", map[string]any{
			"cipher_text": str(t, r, "cipher_text"), "datakey_cipher_length": "64",
		})
		wantOK(t, r)
		if got := str(t, r, "data_key"); len(got) != 128 {
			t.Fatalf("data_key %q is not 64 bytes of hex", got)
		}
	})
}

func TestDatakeyErrors(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()
	id := createKey(t, s, "dk")
	other := createKey(t, s, "dk2")
	r := post(t, s, "create-datakey-without-plaintext", map[string]any{"key_id": id})
	wantOK(t, r)
	ct := str(t, r, "cipher_text")
	flipped := ct[:len(ct)-2] + map[bool]string{true: "00", false: "01"}[ct[len(ct)-2:] != "00"]
	dataCT := encrypt(t, s, id, "not a data key")
	dataBlob, _ := base64.StdEncoding.DecodeString(dataCT)

	tests := []struct {
		name, action string
		body         map[string]any
		status       int
		code         string
	}{
		{"length too small", "create-datakey", map[string]any{"key_id": id, "datakey_length": "4"},
			400, "KMS.1901"},
		{"length too big", "create-datakey",
			map[string]any{"key_id": id, "datakey_length": "8200"}, 400, "KMS.1901"},
		{"length not bytes", "create-datakey", map[string]any{"key_id": id, "datakey_length": "9"},
			400, "KMS.1903"},
		{"spec unknown", "create-datakey", map[string]any{"key_id": id, "key_spec": "AES_512"},
			400, "KMS.1902"},
		{"key missing", "create-datakey-without-plaintext", map[string]any{}, 400, "KMS.0204"},
		{"cipher missing", "decrypt-datakey", map[string]any{"datakey_cipher_length": "64"}, 400,
			"KMS.0204"},
		{"length missing", "decrypt-datakey", map[string]any{"cipher_text": ct}, 400, "KMS.0204"},
		{"length zero", "decrypt-datakey",
			map[string]any{"cipher_text": ct, "datakey_cipher_length": "0"}, 400, "KMS.2202"},
		{"length wrong", "decrypt-datakey",
			map[string]any{"cipher_text": ct, "datakey_cipher_length": "32"}, 400, "KMS.2204"},
		{"not hex", "decrypt-datakey",
			map[string]any{"cipher_text": "zz", "datakey_cipher_length": "64"}, 400, "KMS.2201"},
		{"other key", "decrypt-datakey", map[string]any{
			"key_id": other, "cipher_text": ct, "datakey_cipher_length": "64"}, 400, "KMS.2201"},
		{"key malformed", "decrypt-datakey", map[string]any{
			"key_id": "x", "cipher_text": ct, "datakey_cipher_length": "64"}, 400, "KMS.0205"},
		{"tampered", "decrypt-datakey",
			map[string]any{"cipher_text": flipped, "datakey_cipher_length": "64"}, 400, "KMS.2203"},
		{"data ciphertext as data key", "decrypt-datakey", map[string]any{
			"cipher_text": hex.EncodeToString(dataBlob), "datakey_cipher_length": "14"},
			400, "KMS.2201"},
		{"data key as data ciphertext", "decrypt-data", map[string]any{
			"cipher_text": base64.StdEncoding.EncodeToString(mustHex(t, ct))}, 400, "KMS.0308"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, post(t, s, tt.action, tt.body), tt.code, tt.status)
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenRandom(t *testing.T) {
	s := kmstest.NewServer()
	defer s.Close()

	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"string", `{"random_data_length":"512"}`, 200, ""},
		{"number", `{"random_data_length":512}`, 200, ""},
		{"missing", `{}`, 400, "KMS.0204"},
		{"other length", `{"random_data_length":"256"}`, 400, "KMS.1801"},
		{"not a number", `{"random_data_length":"lots"}`, 400, "KMS.1801"},
		{"not bytes", `{"random_data_length":"12"}`, 400, "KMS.1802"},
		{"boolean", `{"random_data_length":true}`, 400, "KMS.0202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s, "gen-random", tt.body)
			if tt.code != "" {
				wantCode(t, r, tt.code, tt.status)
				return
			}
			wantOK(t, r)
			if b, err := hex.DecodeString(str(t, r, "random_data")); err != nil || len(b) != 64 {
				t.Fatalf("random_data %s", r.Body)
			}
		})
	}
}
