package kmsretry

import (
	"net/http"
	"net/url"
	"testing"
)

const (
	testProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	testKey     = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
)

func TestAction(t *testing.T) {
	v1 := "/v1.0/" + testProject + "/kms/"
	v2 := "/v2/" + testProject + "/kms/"

	tests := []struct {
		name        string
		path        string
		wantAction  string
		wantProject string
	}{
		{"encrypt-data", v1 + "encrypt-data", "encrypt-data", testProject},
		{"decrypt-data", v1 + "decrypt-data", "decrypt-data", testProject},
		{"create-datakey", v1 + "create-datakey", "create-datakey", testProject},
		{"create-key", v1 + "create-key", "create-key", testProject},
		{"create-grant", v1 + "create-grant", "create-grant", testProject},
		{"schedule-key-deletion", v1 + "schedule-key-deletion", "schedule-key-deletion",
			testProject},
		{"get-parameters-for-import", v1 + "get-parameters-for-import",
			"get-parameters-for-import", testProject},
		{"trailing slash", v1 + "describe-key/", "describe-key", testProject},
		{"other project", "/v1.0/p2/kms/gen-random", "gen-random", "p2"},
		{"v2 action path", v2 + "list-keys", "list-keys", testProject},

		{"replicate", v2 + "keys/" + testKey + "/replicate", "replicate", testProject},
		{"update-primary-region", v2 + "keys/" + testKey + "/update-primary-region",
			"update-primary-region", testProject},
		{"regions", v2 + "regions", "regions", testProject},
		{"keys without action", v2 + "keys/" + testKey, actionOther, testProject},
		{"keys alone", v2 + "keys", actionOther, testProject},
		{"keys, unknown action", v2 + "keys/" + testKey + "/rotate-now", actionOther,
			testProject},

		{"keystores", "/v1.0/" + testProject + "/keystores", "keystores", testProject},
		{"keystore by id", "/v1.0/" + testProject + "/keystores/ks-1", "keystores", testProject},
		{"keystore enable", "/v1.0/" + testProject + "/keystores/ks-1/enable", "keystores",
			testProject},

		{"key tags", v1 + testKey + "/tags", "tags", testProject},
		{"key tag by name", v1 + testKey + "/tags/env", "tags", testProject},
		{"key tags batch", v1 + testKey + "/tags/action", "tags", testProject},
		{"project tags", v1 + "tags", "tags", testProject},
		{"aliases", v1 + "aliases", "aliases", testProject},
		{"alias associate", v1 + "aliases/associate", "aliases", testProject},
		{"resource instances", v1 + "resource_instances/action", "resource_instances",
			testProject},

		{"unknown action", v1 + "rotate-everything", actionOther, testProject},
		{"unknown key sub-path", v1 + testKey + "/nothing", actionOther, testProject},
		{"not kms", "/v1.0/" + testProject + "/ecs/servers", actionOther, testProject},
		{"no kms segment", "/v1.0/" + testProject, actionOther, testProject},
		{"version only", "/v1.0", actionOther, ""},
		{"root", "/", actionOther, ""},
		{"empty path", "", actionOther, ""},
		{"no leading slash", "v1.0/p3/kms/sign", "sign", "p3"},
		{"query in the string is not stripped", v1 + "encrypt-data?x=1", actionOther,
			testProject},
		{"case matters", v1 + "Encrypt-Data", actionOther, testProject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			action, project := Action(tt.path)
			if action != tt.wantAction || project != tt.wantProject {
				t.Errorf("Action(%q) = %q, %q; want %q, %q",
					tt.path, action, project, tt.wantAction, tt.wantProject)
			}
		})
	}
}

// TestActionFromURL checks that a query string never reaches Action: the
// transport passes URL.Path, which holds none.
func TestActionFromURL(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{"https://kms.cn-north-4.myhuaweicloud.com/v1.0/" + testProject +
			"/kms/encrypt-data?plain=secret", "encrypt-data"},
		{"https://kms.cn-north-4.myhuaweicloud.com/v1.0/" + testProject +
			"/kms/list-keys?limit=10&marker=1#frag", "list-keys"},
		{"http://127.0.0.1:8080/v2/" + testProject + "/kms/keys/" + testKey +
			"/replicate?replica_region=cn-east-3", "replicate"},
		{"http://127.0.0.1/v1.0/" + testProject + "/kms/" + testKey + "/tags?tag=a/b",
			"tags"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			u, err := url.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			action, project := Action(u.Path)
			if action != tt.want || project != testProject {
				t.Errorf("Action(%q) = %q, %q; want %q, %q",
					u.Path, action, project, tt.want, testProject)
			}
		})
	}
}

// TestActionLabelsBounded checks that every action Action can return is a
// key of actionSafety or "other", so the action label stays bounded.
func TestActionLabelsBounded(t *testing.T) {
	paths := []string{"", "/", "/a/b/kms/c/d/e", "/v1.0/p/kms/keys/x/y/z", "/v/p/kms/%2e%2e"}
	for a := range actionSafety {
		paths = append(paths, "/v1.0/p/kms/"+a, "/v2/p/kms/keys/k/"+a, "/v1.0/p/kms/k/"+a)
	}
	for _, p := range paths {
		a, _ := Action(p)
		if _, ok := actionSafety[a]; !ok && a != actionOther {
			t.Errorf("Action(%q) = %q, not a known action", p, a)
		}
	}
}

func TestActionSafety(t *testing.T) {
	v1 := "https://kms.example/v1.0/" + testProject + "/kms/"
	v2 := "https://kms.example/v2/" + testProject + "/kms/"

	tests := []struct {
		name   string
		method string
		url    string
		want   Safety
	}{
		{"encrypt-data", http.MethodPost, v1 + "encrypt-data", Safe},
		{"decrypt-datakey", http.MethodPost, v1 + "decrypt-datakey", Safe},
		{"gen-random", http.MethodPost, v1 + "gen-random", Safe},
		{"sign", http.MethodPost, v1 + "sign", Safe},
		{"verify-mac", http.MethodPost, v1 + "verify-mac", Safe},
		{"user-quotas", http.MethodPost, v1 + "user-quotas", Safe},

		{"create-key", http.MethodPost, v1 + "create-key", Unsafe},
		{"create-grant", http.MethodPost, v1 + "create-grant", Unsafe},
		{"replicate", http.MethodPost, v2 + "keys/" + testKey + "/replicate", Unsafe},
		{"create keystore", http.MethodPost,
			"https://kms.example/v1.0/" + testProject + "/keystores", Unsafe},
		{"get-parameters-for-import", http.MethodPost, v1 + "get-parameters-for-import",
			Unsafe},
		{"unknown action", http.MethodPost, v1 + "make-coffee", Unsafe},
		{"not kms", http.MethodPost, "https://kms.example/other", Unsafe},

		{"enable-key", http.MethodPost, v1 + "enable-key", Converges},
		{"schedule-key-deletion", http.MethodPost, v1 + "schedule-key-deletion",
			Converges},
		{"cancel-key-deletion", http.MethodPost, v1 + "cancel-key-deletion", Converges},
		{"retire-grant", http.MethodPost, v1 + "retire-grant", Converges},
		{"import-key-material", http.MethodPost, v1 + "import-key-material", Converges},
		{"update-primary-region", http.MethodPut,
			v2 + "keys/" + testKey + "/update-primary-region", Converges},
		{"add tag", http.MethodPost, v1 + testKey + "/tags", Converges},
		{"delete tag", http.MethodDelete, v1 + testKey + "/tags/env", Converges},
		{"delete alias", http.MethodDelete, v1 + "aliases", Converges},

		{"GET tags", http.MethodGet, v1 + testKey + "/tags", Safe},
		{"GET aliases", http.MethodGet, v1 + "aliases", Safe},
		{"GET regions", http.MethodGet, v2 + "regions", Safe},
		{"GET keystores", http.MethodGet,
			"https://kms.example/v1.0/" + testProject + "/keystores", Safe},
		{"GET unknown path", http.MethodGet, "https://kms.example/whatever", Safe},
		{"HEAD create-key", http.MethodHead, v1 + "create-key", Safe},
		{"DELETE keystore", http.MethodDelete,
			"https://kms.example/v1.0/" + testProject + "/keystores/ks-1", Unsafe},
		{"PUT unknown", http.MethodPut, v1 + "anything", Unsafe},
		{"query not in path", http.MethodPost, v1 + "create-datakey?x=create-key", Safe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ActionSafety(req); got != tt.want {
				t.Errorf("ActionSafety(%s %s) = %d, want %d", tt.method, tt.url, got, tt.want)
			}
		})
	}
}

// TestActionSafetyNilURL checks that ActionSafety, like Action and the
// transport, copes with a request without a URL: a next transport may
// return an ambiguous failure for one, and RoundTrip then asks.
func TestActionSafetyNilURL(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("ActionSafety panicked: %v", r)
				}
			}()
			want := Unsafe
			if method == http.MethodGet {
				want = Safe
			}
			if got := ActionSafety(&http.Request{Method: method}); got != want {
				t.Errorf("ActionSafety(%s, nil URL) = %d, want %d", method, got, want)
			}
		})
	}
}

// TestActionSafetyTable checks every action named in KMS-WIRE.md against its
// documented safety.
func TestActionSafetyTable(t *testing.T) {
	want := map[Safety][]string{
		Safe: {"encrypt-data", "decrypt-data", "create-datakey",
			"create-datakey-without-plaintext", "create-rsa-datakey-pair",
			"create-ec-datakey-pair", "encrypt-datakey", "decrypt-datakey", "gen-random",
			"describe-key", "list-keys", "list-grants", "list-retirable-grants",
			"get-key-rotation-status", "get-publickey", "sign", "verify", "generate-mac",
			"verify-mac", "user-instances", "user-quotas"},
		Unsafe: {"create-key", "create-grant"},
		Converges: {"enable-key", "disable-key", "schedule-key-deletion",
			"cancel-key-deletion", "revoke-grant", "retire-grant", "enable-key-rotation",
			"disable-key-rotation", "update-key-rotation-interval", "update-key-alias",
			"update-key-description", "import-key-material", "delete-imported-key-material"},
	}
	for safety, actions := range want {
		for _, a := range actions {
			t.Run(a, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost,
					"http://127.0.0.1/v1.0/"+testProject+"/kms/"+a, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := ActionSafety(req); got != safety {
					t.Errorf("ActionSafety(POST %s) = %d, want %d", a, got, safety)
				}
			})
		}
	}
}
