package huaweisdk_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	kms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"
	"go.uber.org/goleak"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/examples/huaweisdk"
	"github.com/kmsretry/kmsretry/kmstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// unknownKey is a well-formed key id that no stand-in holds.
const unknownKey = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"

// fixture is a stand-in and an SDK client that reaches it through kmsretry.
type fixture struct {
	srv    *kmstest.Server
	client *kms.KmsClient

	mu   sync.Mutex
	last map[string]kmstest.Record // the latest exchange of each action
}

// newFixture starts a stand-in and builds an SDK client for it, with $HOME in a temporary
// directory that must stay free of the SDK's files.
func newFixture(t *testing.T) *fixture {
	t.Helper()

	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(home, ".huaweicloud")); !os.IsNotExist(err) {
			t.Errorf("the SDK wrote to $HOME/.huaweicloud (stat: %v)", err)
		}
	})

	f := &fixture{last: map[string]kmstest.Record{}}
	f.srv = kmstest.NewServer(kmstest.WithHook(f.record))
	t.Cleanup(f.srv.Close)

	short := func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }
	tr := kmsretry.New(f.srv.Client().Transport,
		kmsretry.WithPolicy(kmsretry.Retryable, kmsretry.Policy{Backoff: short}),
		kmsretry.WithPolicy(kmsretry.Throttled, kmsretry.Policy{Backoff: short}))

	client, err := huaweisdk.NewKMSClient(f.srv.URL, "AK-EXAMPLE", "SK-EXAMPLE", "project-1", tr)
	if err != nil {
		t.Fatal(err)
	}
	f.client = client
	return f
}

// record is the stand-in's hook.
func (f *fixture) record(r kmstest.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last[r.Action] = r
}

// lastRecord returns the latest exchange of action.
func (f *fixture) lastRecord(action string) kmstest.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[action]
}

// sends runs call and returns how many requests of action the stand-in received meanwhile.
func (f *fixture) sends(action string, call func()) int {
	before := f.srv.Requests(action)
	call()
	return f.srv.Requests(action) - before
}

func (f *fixture) createKey(t *testing.T, alias string) string {
	t.Helper()

	resp, err := f.client.CreateKey(&model.CreateKeyRequest{
		Body: &model.CreateKeyRequestBody{KeyAlias: alias}})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return *resp.KeyInfo.KeyId
}

func TestSDKCallsSurviveFaults(t *testing.T) {
	faults := []struct {
		name  string
		fault kmstest.Fault
	}{
		{"KMS.0101", kmstest.Code("KMS.0101")},
		{"KMS.0102", kmstest.Code("KMS.0102")},
		{"APIGW.0308 429", kmstest.Throttle("0")},
		{"APIGW.0201 502", kmstest.BadGateway()},
	}

	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			script := func(action string) { f.srv.Script(action, tt.fault) }

			var keyID string
			script("create-key")
			n := f.sends("create-key", func() { keyID = f.createKey(t, "sdk-key") })
			if n != 2 || f.srv.Applied("create-key") != 1 {
				t.Errorf("CreateKey: %d sends, %d keys created; want 2 and 1", n,
					f.srv.Applied("create-key"))
			}

			var cipherText string
			script("encrypt-data")
			n = f.sends("encrypt-data", func() {
				resp, err := f.client.EncryptData(&model.EncryptDataRequest{
					Body: &model.EncryptDataRequestBody{KeyId: keyID, PlainText: "hello"}})
				if err != nil {
					t.Fatalf("EncryptData: %v", err)
				}
				cipherText = *resp.CipherText
			})
			wantSends(t, "EncryptData", n, 2)

			script("decrypt-data")
			n = f.sends("decrypt-data", func() {
				resp, err := f.client.DecryptData(&model.DecryptDataRequest{
					Body: &model.DecryptDataRequestBody{CipherText: cipherText}})
				if err != nil {
					t.Fatalf("DecryptData: %v", err)
				}
				if *resp.PlainText != "hello" {
					t.Errorf("DecryptData: %q, want hello", *resp.PlainText)
				}
			})
			wantSends(t, "DecryptData", n, 2)

			script("create-datakey")
			n = f.sends("create-datakey", func() {
				length := "256"
				resp, err := f.client.CreateDatakey(&model.CreateDatakeyRequest{
					Body: &model.CreateDatakeyRequestBody{KeyId: keyID, DatakeyLength: &length}})
				if err != nil {
					t.Fatalf("CreateDatakey: %v", err)
				}
				if len(*resp.PlainText) != 64 {
					t.Errorf("CreateDatakey: data key %q, want 64 hex digits", *resp.PlainText)
				}
			})
			wantSends(t, "CreateDatakey", n, 2)

			auth := f.lastRecord("create-datakey").Header.Get("Authorization")
			if !strings.HasPrefix(auth, "SDK-HMAC-SHA256 ") {
				t.Errorf("the resend was not signed by the SDK: Authorization %q", auth)
			}
		})
	}
}

func wantSends(t *testing.T, call string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s: the stand-in received %d requests, want %d", call, got, want)
	}
}

func TestSDKGetsFatalAnswersUnretried(t *testing.T) {
	f := newFixture(t)

	calls := []struct {
		action string
		call   func() error
	}{
		{"describe-key", func() error {
			_, err := f.client.ListKeyDetail(&model.ListKeyDetailRequest{
				Body: &model.OperateKeyRequestBody{KeyId: unknownKey}})
			return err
		}},
		{"encrypt-data", func() error {
			_, err := f.client.EncryptData(&model.EncryptDataRequest{
				Body: &model.EncryptDataRequestBody{KeyId: unknownKey, PlainText: "hello"}})
			return err
		}},
	}

	for _, c := range calls {
		t.Run(c.action, func(t *testing.T) {
			var err error
			n := f.sends(c.action, func() { err = c.call() })
			wantSends(t, c.action, n, 1)

			var sre *sdkerr.ServiceResponseError
			if !errors.As(err, &sre) {
				t.Fatalf("error %T %v, want *sdkerr.ServiceResponseError", err, err)
			}
			id := f.lastRecord(c.action).RequestID
			if sre.ErrorCode != "KMS.0207" || sre.StatusCode != 404 || sre.RequestId != id {
				t.Errorf("got %s %d request id %q, want KMS.0207 404 %q",
					sre.ErrorCode, sre.StatusCode, sre.RequestId, id)
			}
		})
	}
}

func TestSDKCreateKeyIsNotResentAfterADrop(t *testing.T) {
	f := newFixture(t)
	f.srv.Script("create-key", kmstest.DropAfterEffect())

	var err error
	n := f.sends("create-key", func() {
		_, err = f.client.CreateKey(&model.CreateKeyRequest{
			Body: &model.CreateKeyRequestBody{KeyAlias: "dropped"}})
	})

	wantSends(t, "CreateKey", n, 1)
	if got := f.srv.Applied("create-key"); got != 1 {
		t.Errorf("%d keys created, want 1", got)
	}
	if !errors.Is(err, kmsretry.ErrOutcomeUnknown) {
		t.Fatalf("error %T %v does not wrap kmsretry.ErrOutcomeUnknown", err, err)
	}

	// The SDK hands over the http.Client's *url.Error, which holds the transport's error.
	var uerr *url.Error
	var kerr *kmsretry.Error
	if !errors.As(err, &uerr) || !errors.As(err, &kerr) {
		t.Fatalf("error %T %v: want a *url.Error wrapping a *kmsretry.Error", err, err)
	}
	if kerr.Action != "create-key" || kerr.Attempts != 1 {
		t.Errorf("kmsretry.Error for %q after %d attempts, want create-key after 1",
			kerr.Action, kerr.Attempts)
	}

	keys, err := f.client.ListKeys(&model.ListKeysRequest{Body: &model.ListKeysRequestBody{}})
	if err != nil {
		t.Fatal(err)
	}
	if keys.Keys == nil || len(*keys.Keys) != 1 {
		t.Errorf("list-keys shows %v, want the one key the dropped request created", keys.Keys)
	}
}
