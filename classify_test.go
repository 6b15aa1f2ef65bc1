package kmsretry

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

func TestRulesClassify(t *testing.T) {
	moved := rules{moved: map[string]Class{
		"KMS.2403":   Retryable,
		"APIGW.0308": Fatal,
		"KMS.0104":   Throttled,
		"KMS.0101":   Fatal,
	}}

	tests := []struct {
		name   string
		r      rules
		status int
		code   string
		want   Class
	}{
		// A success is never a failure, whatever its body says.
		{"200 no code", defaultRules, 200, "", Unknown},
		{"200 with a retryable code", defaultRules, 200, "KMS.0101", Unknown},
		{"204", defaultRules, 204, "", Unknown},
		{"302", defaultRules, 302, "", Unknown},
		{"399 with a fatal code", defaultRules, 399, "KMS.0207", Unknown},
		{"success with a moved code", moved, 200, "KMS.2403", Unknown},

		// A documented code decides, whatever the status.
		{"KMS.0207 at 404", defaultRules, 404, "KMS.0207", Fatal},
		{"KMS.0207 at 503", defaultRules, 503, "KMS.0207", Fatal},
		{"KMS.0207 at 429", defaultRules, 429, "KMS.0207", Fatal},
		{"KMS.0101 at 500", defaultRules, 500, "KMS.0101", Retryable},
		{"KMS.0101 at 400", defaultRules, 400, "KMS.0101", Retryable},
		{"KMS.0323 at 400", defaultRules, 400, "KMS.0323", Retryable},
		{"KMS.1108 at 400", defaultRules, 400, "KMS.1108", Retryable},
		{"KMS.0301 at 403", defaultRules, 403, "KMS.0301", AuthRefresh},
		{"KMS.2601 at 400", defaultRules, 400, "KMS.2601", AuthRefresh},
		{"KMS.0320 at 400", defaultRules, 400, "KMS.0320", Billing},
		{"KMS.0328 at 503", defaultRules, 503, "KMS.0328", Billing},
		{"APIGW.0308 at 429", defaultRules, 429, "APIGW.0308", Throttled},
		{"APIGW.0308 at 500", defaultRules, 500, "APIGW.0308", Throttled},
		{"APIG.0308 at 429", defaultRules, 429, "APIG.0308", Throttled},
		{"APIGW.0201 at 504", defaultRules, 504, "APIGW.0201", Retryable},
		{"APIG.0201 at 502", defaultRules, 502, "APIG.0201", Retryable},
		{"APIGW.0301 at 401", defaultRules, 401, "APIGW.0301", AuthRefresh},
		{"APIGW.0101 at 404", defaultRules, 404, "APIGW.0101", Fatal},
		{"APIGW.0101 at 502", defaultRules, 502, "APIGW.0101", Fatal},

		// The transport's own moves win over the catalogue.
		{"moved fatal to retryable", moved, 400, "KMS.2403", Retryable},
		{"moved throttled to fatal", moved, 429, "APIGW.0308", Fatal},
		{"moved, APIG. spelling", moved, 429, "APIG.0308", Fatal},
		{"moved retryable to fatal", moved, 500, "KMS.0101", Fatal},
		{"moved undocumented code", moved, 503, "KMS.0104", Throttled},
		{"unmoved code keeps catalogue", moved, 404, "KMS.0207", Fatal},
		{"moves do not touch no code", moved, 503, "", Retryable},

		// An unknown code falls back on the status.
		{"unknown code 429", defaultRules, 429, "KMS.9999", Throttled},
		{"KMS.0104 at 503", defaultRules, 503, "KMS.0104", Retryable},
		{"unknown code 500", defaultRules, 500, "X.1", Retryable},
		{"unknown code 400", defaultRules, 400, "KMS.9999", Fatal},
		{"unknown code 404", defaultRules, 404, "KMS.9999", Fatal},
		{"unknown gateway code 502", defaultRules, 502, "APIG.9999", Retryable},
		{"lower-case code is unknown", defaultRules, 400, "kms.0101", Fatal},

		// No code at all: 5xx from a proxy, anything else fatal.
		{"no code 500", defaultRules, 500, "", Retryable},
		{"no code 502", defaultRules, 502, "", Retryable},
		{"no code 503", defaultRules, 503, "", Retryable},
		{"no code 504", defaultRules, 504, "", Retryable},
		{"no code 599", defaultRules, 599, "", Retryable},
		{"no code 429", defaultRules, 429, "", Throttled},
		{"no code 400", defaultRules, 400, "", Fatal},
		{"no code 401", defaultRules, 401, "", Fatal},
		{"no code 404", defaultRules, 404, "", Fatal},
		{"no code 408", defaultRules, 408, "", Fatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.classify(tt.status, tt.code); got != tt.want {
				t.Errorf("classify(%d, %q) = %v, want %v", tt.status, tt.code, got, tt.want)
			}
		})
	}
}

// TestRulesClassifyCatalogue checks every documented code at its own status
// and at two others.
func TestRulesClassifyCatalogue(t *testing.T) {
	for _, e := range Entries() {
		for _, status := range []int{e.Status, 400, 503} {
			t.Run(e.Code+"/"+strconv.Itoa(status), func(t *testing.T) {
				if got := defaultRules.classify(status, e.Code); got != e.Class {
					t.Errorf("classify(%d, %q) = %v, want %v", status, e.Code, got, e.Class)
				}
			})
		}
	}
}

// TestRulesWithClass checks that WithClass, whichever prefix it is given,
// moves both spellings of a gateway code.
func TestRulesWithClass(t *testing.T) {
	for _, given := range []string{"APIG.0201", "APIGW.0201"} {
		for _, sent := range []string{"APIG.0201", "APIGW.0201"} {
			t.Run(given+"/"+sent, func(t *testing.T) {
				tr := New(nil, WithClass(given, Fatal))
				if got := tr.rules.classify(502, sent); got != Fatal {
					t.Errorf("classify(502, %q) = %v, want fatal", sent, got)
				}
			})
		}
	}
}

// TestRulesWithClassInvalid checks that WithClass cannot make an error
// answer classless: like WithPolicy, it must not accept Unknown or a value
// outside the classes, which would leave the answer matching no sentinel.
func TestRulesWithClassInvalid(t *testing.T) {
	for _, c := range []Class{Unknown, Class(-1), Class(42)} {
		t.Run(strconv.Itoa(int(c)), func(t *testing.T) {
			tr := New(nil, WithClass("KMS.0207", c))
			got := tr.rules.classify(404, "KMS.0207")
			if !slices.Contains(Classes, got) {
				t.Errorf("after WithClass(KMS.0207, %d): classify = %d, not a class", c, got)
			}
		})
	}
}

func TestMetricCode(t *testing.T) {
	tests := []struct {
		code string
		want string
	}{
		{"KMS.0207", "KMS.0207"},
		{"KMS.0101", "KMS.0101"},
		{"APIGW.0308", "APIGW.0308"},
		{"APIG.0308", "APIGW.0308"},
		{"APIG.0201", "APIGW.0201"},
		{"", "none"},
		{"KMS.0104", "unknown"},
		{"KMS.9999", "unknown"},
		{"APIG.9999", "unknown"},
		{"APIGW.", "unknown"},
		{"APIG.", "unknown"},
		{"kms.0207", "unknown"},
		{" KMS.0207", "unknown"},
		{"KMS.0207\n", "unknown"},
		{"none", "unknown"},
		{"unknown", "unknown"},
		{"密钥", "unknown"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.code), func(t *testing.T) {
			if got := metricCode(tt.code); got != tt.want {
				t.Errorf("metricCode(%q) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}

	t.Run("every catalogue code", func(t *testing.T) {
		for _, e := range Entries() {
			if got := metricCode(e.Code); got != e.Code {
				t.Errorf("metricCode(%q) = %q", e.Code, got)
			}
		}
	})

	t.Run("invented codes share one value", func(t *testing.T) {
		seen := map[string]bool{}
		for i := range 10000 {
			for _, code := range []string{
				fmt.Sprintf("KMS.%05d", i),
				fmt.Sprintf("APIG.X%d", i),
			} {
				seen[metricCode(code)] = true
			}
		}
		if len(seen) != 1 || !seen["unknown"] {
			t.Errorf("10,000 invented codes gave labels %v, want only \"unknown\"", seen)
		}
	})
}
