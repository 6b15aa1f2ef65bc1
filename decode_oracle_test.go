package kmsretry

import (
	"encoding/json"
	"strings"
	"testing"
)

// oracleParse is ParseErrorBody written with encoding/json, slow and plain:
// the reference the hand-written scanner must agree with.
func oracleParse(b []byte) ErrorBody {
	if len(b) > MaxErrorBody {
		b = b[:MaxErrorBody]
	}

	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		return ErrorBody{}
	}

	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	eb := ErrorBody{Code: strings.TrimSpace(str(m, "error_code")), Message: str(m, "error_msg"),
		RequestID: str(m, "request_id")}
	inner, ok := m["error"].(map[string]any)
	if code := strings.TrimSpace(str(inner, "error_code")); ok && code != "" {
		eb.Code, eb.Message = code, str(inner, "error_msg")
	}
	if eb.Code == "" {
		return ErrorBody{RequestID: eb.RequestID}
	}
	return eb
}

func FuzzParseMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"error":{"error_code":"KMS.0207","error_msg":"key not found"}}`,
		`{"error_code":"APIGW.0308","error_msg":"throttled","request_id":"abc"}`,
		`{"error":"x","error_code":"APIG.0201","request_id":7}`,
		`{"error":{"error_code":"KMS.0101"},"error":[1,{"a":"}"}]}`,
		`{"error_msg":"\u4e2d\"q\"","error_code":"K\u004dS.0101"}`,
		` {"a":{"b":[true,false,null,-1.5e3]},"error_code":"X"} `,
		`[]`, `null`, `{}`, `{"error_code":""}`, `<html>`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := ParseErrorBody(b), oracleParse(b)
		if got != want {
			t.Fatalf("ParseErrorBody(%q) = %+v, encoding/json says %+v", b, got, want)
		}
	})
}

// scanValid reports whether the scanner accepts b as one JSON value.
func scanValid(b []byte) bool {
	sc := scanner{b: b}
	sc.space()
	sc.skip()
	sc.space()
	return !sc.bad && sc.i == len(b)
}

func FuzzScannerAgreesWithValid(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-0.5e+3,true,false,null,"\u00e9\n"]}`, `[]`, `{}`, `01`, `-`, `1.`, `1e`,
		`"\x"`, `"\u12g4"`, "\"a\tb\"", `{"a" 1}`, `{"a":1,}`, `[1,]`, ` 1 `, `nul`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := scanValid(b), json.Valid(b); got != want {
			t.Fatalf("scanner says valid=%v for %q, json.Valid says %v", got, b, want)
		}
	})
}

func TestScannerDepthLimit(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		b := []byte(strings.Repeat(`{"a":`, depth-1) + `[]` + strings.Repeat("}", depth-1))
		if got, want := scanValid(b), json.Valid(b); got != want {
			t.Errorf("depth %d: scanner valid=%v, json.Valid %v", depth, got, want)
		}
	}
}
