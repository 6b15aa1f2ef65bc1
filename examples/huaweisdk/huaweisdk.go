// Package huaweisdk shows kmsretry under the vendor's Go SDK
// (github.com/huaweicloud/huaweicloud-sdk-go-v3): the SDK builds, signs and decodes each
// request, and a kmsretry Transport decides whether to send it again.
//
// The SDK takes any [http.RoundTripper] through its HTTP configuration, so nothing else
// changes for the code that calls it. What reaches that code:
//   - a success, after any number of resends the transport made;
//   - the SDK's own *sdkerr.ServiceResponseError for a final error answer, with the KMS code,
//     the HTTP status and the X-Request-Id of the last answer, as without kmsretry;
//   - the http.Client's *url.Error, wrapping the transport's *kmsretry.Error, when no answer
//     came: errors.Is finds kmsretry.ErrOutcomeUnknown through both after a create-key whose
//     connection dropped once the request was sent.
//
// It is a module of its own because the SDK is large; the kmsretry module does not need it.
package huaweisdk

import (
	"fmt"
	"net/http"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	kms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
)

// UserAgent is the User-Agent that [NewKMSClient] gives the SDK. Without one, building a
// client writes an application id to $HOME/.huaweicloud.
const UserAgent = "kmsretry-example"

// NewKMSClient returns the SDK's KMS client for endpoint, such as
// https://kms.ap-southeast-1.myhuaweicloud.com or a stand-in's http://127.0.0.1:port. It
// signs every request with the access key ak and secret key sk for the project id project,
// and sends it through rt, typically a [github.com/kmsretry/kmsretry.Transport]; nil means
// the SDK's own transport.
func NewKMSClient(endpoint, ak, sk, project string, rt http.RoundTripper) (*kms.KmsClient, error) {
	cred, err := basic.NewCredentialsBuilder().
		WithAk(ak).
		WithSk(sk).
		WithProjectId(project).
		SafeBuild()
	if err != nil {
		return nil, fmt.Errorf("huaweisdk: credentials: %w", err)
	}

	cfg := config.DefaultHttpConfig().WithHttpRoundTripper(rt).WithUserAgent(UserAgent)
	hc, err := kms.KmsClientBuilder().
		WithEndpoint(endpoint).
		WithCredential(cred).
		WithHttpConfig(cfg).
		SafeBuild()
	if err != nil {
		return nil, fmt.Errorf("huaweisdk: building the KMS client: %w", err)
	}
	return kms.NewKmsClient(hc), nil
}
