package huaweisdk_test

import (
	"errors"
	"fmt"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/kmsretry/kmsretry"
	"github.com/kmsretry/kmsretry/examples/huaweisdk"
	"github.com/kmsretry/kmsretry/kmstest"
)

// The SDK's calls go through kmsretry. Here the stand-in answers the first create-key with
// KMS.0101, an internal error: the transport sends the signed request again and the SDK sees
// the success. A fatal answer, KMS.0207 for a key that does not exist, comes back at once as
// the SDK's own error.
func ExampleNewKMSClient() {
	srv := kmstest.NewServer()
	defer srv.Close()
	srv.Script("create-key", kmstest.Code("KMS.0101"))

	tr := kmsretry.New(srv.Client().Transport)
	client, err := huaweisdk.NewKMSClient(srv.URL, "my-ak", "my-sk", "my-project", tr)
	if err != nil {
		fmt.Println(err)
		return
	}

	_, err = client.CreateKey(&model.CreateKeyRequest{
		Body: &model.CreateKeyRequestBody{KeyAlias: "example"}})
	fmt.Println("create-key:", err, "after", srv.Requests("create-key"), "sends")

	_, err = client.EncryptData(&model.EncryptDataRequest{Body: &model.EncryptDataRequestBody{
		KeyId: "0d0466b0-e727-4d9c-b35d-f84bb474a37f", PlainText: "hello"}})
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		fmt.Println("encrypt-data:", sre.StatusCode, sre.ErrorCode, "after",
			srv.Requests("encrypt-data"), "send")
	}
	// Output:
	// create-key: <nil> after 2 sends
	// encrypt-data: 404 KMS.0207 after 1 send
}
