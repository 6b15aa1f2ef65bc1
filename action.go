package kmsretry

import (
	"net/http"
	"strings"
)

// Safety says whether a KMS action may be sent again after a failure that
// leaves its outcome unknown: a connection reset or a timeout after the
// request was written. A coded error answer is a different matter: the server
// answered, nothing was applied, and a retry is safe for every action.
type Safety int

const (
	// Unsafe actions may have been applied and would be applied again:
	// create-key makes a new key per call. Unlisted actions are unsafe.
	Unsafe Safety = iota

	// Converges marks actions that end in the same state when repeated, but
	// whose repeat may answer an error (schedule-key-deletion answers
	// KMS.1402 the second time). They are not resent after an ambiguous
	// failure either, so that the caller never mistakes that error for the
	// real outcome.
	Converges

	// Safe actions have no side effect and may be repeated after any failure.
	Safe
)

// actionOther is the metric label of every path that is not a known action.
const actionOther = "other"

// actionSafety holds every action the transport knows by name: it bounds the
// values of the action label of every metric.
var actionSafety = map[string]Safety{
	"encrypt-data":                     Safe,
	"decrypt-data":                     Safe,
	"create-datakey":                   Safe,
	"create-datakey-without-plaintext": Safe,
	"create-rsa-datakey-pair":          Safe,
	"create-ec-datakey-pair":           Safe,
	"encrypt-datakey":                  Safe,
	"decrypt-datakey":                  Safe,
	"gen-random":                       Safe,
	"describe-key":                     Safe,
	"list-keys":                        Safe,
	"list-grants":                      Safe,
	"list-retirable-grants":            Safe,
	"get-key-rotation-status":          Safe,
	"get-publickey":                    Safe,
	"sign":                             Safe,
	"verify":                           Safe,
	"generate-mac":                     Safe,
	"verify-mac":                       Safe,
	"user-instances":                   Safe,
	"user-quotas":                      Safe,
	"regions":                          Safe,

	"create-key":                Unsafe,
	"create-grant":              Unsafe,
	"replicate":                 Unsafe,
	"keystores":                 Unsafe,
	"get-parameters-for-import": Unsafe,

	"enable-key":                   Converges,
	"disable-key":                  Converges,
	"schedule-key-deletion":        Converges,
	"cancel-key-deletion":          Converges,
	"revoke-grant":                 Converges,
	"retire-grant":                 Converges,
	"enable-key-rotation":          Converges,
	"disable-key-rotation":         Converges,
	"update-key-rotation-interval": Converges,
	"update-key-alias":             Converges,
	"update-key-description":       Converges,
	"import-key-material":          Converges,
	"delete-imported-key-material": Converges,
	"update-primary-region":        Converges,
	"tags":                         Converges,
	"aliases":                      Converges,
	"resource_instances":           Converges,
}

// Action returns the KMS action a request path names, such as "encrypt-data"
// for /v1.0/{project_id}/kms/encrypt-data, and the project id. Paths under
// keys/{key_id}/ name their last segment ("replicate"), tag paths "tags", key
// store paths "keystores". Any other path gives "other".
func Action(path string) (action, project string) {
	rest := strings.TrimPrefix(path, "/")
	_, rest, _ = strings.Cut(rest, "/") // the API version
	project, rest, _ = strings.Cut(rest, "/")

	if rest == "keystores" || strings.HasPrefix(rest, "keystores/") {
		return "keystores", project
	}

	rest, ok := strings.CutPrefix(rest, "kms/")
	if !ok {
		return actionOther, project
	}

	first, rest, _ := strings.Cut(rest, "/")
	if _, known := actionSafety[first]; known {
		return first, project
	}

	// keys/{key_id}/<action> and {key_id}/tags/...
	if first == "keys" {
		_, rest, _ = strings.Cut(rest, "/")
	}
	next, _, _ := strings.Cut(rest, "/")
	if _, known := actionSafety[next]; known {
		return next, project
	}
	return actionOther, project
}

// ActionSafety returns how safe it is to resend the action of req after an
// ambiguous failure. GET and HEAD requests read and are always [Safe].
func ActionSafety(req *http.Request) Safety {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return Safe
	}
	if req.URL == nil {
		return Unsafe
	}

	action, _ := Action(req.URL.Path)
	return actionSafety[action]
}
