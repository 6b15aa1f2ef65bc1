package bench

import (
	"testing"

	"github.com/kmsretry/kmsretry"
)

// Error bodies as the service sends them: KMS's nested shape, and the API
// gateway's flat shape with the request id inside.
var (
	nestedBody = []byte(`{"error":{"error_code":"KMS.0207",` +
		`"error_msg":"The specified key does not exist or has been deleted."}}`)
	flatBody = []byte(`{"error_code":"APIGW.0308","error_msg":"The throttling threshold ` +
		`has been reached: policy user over ratelimit,limit:200,time:1 second",` +
		`"request_id":"4a0c5e3f9d2b7e6c1a8f3d5b7c9e1f20"}`)
)

var sinkClass kmsretry.Class

// BenchmarkDecode reads the code of an error body and classifies it, as the
// transport does for every error answer.
func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		body []byte
		want kmsretry.Class
	}{
		{"shape=nested", nestedBody, kmsretry.Fatal},
		{"shape=flat", flatBody, kmsretry.Throttled},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if got := kmsretry.Classify(kmsretry.ParseErrorBody(c.body).Code); got != c.want {
				b.Fatalf("class %v, want %v", got, c.want)
			}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				eb := kmsretry.ParseErrorBody(c.body)
				sinkClass = kmsretry.Classify(eb.Code)
			}
			reportCPU(b, start)
		})
	}
}
