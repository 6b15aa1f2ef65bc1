package kmsretry

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// tsvRow is one row of testdata/kms-error-codes.tsv.
type tsvRow struct {
	status    int
	code      string
	class     string
	messageZH string
	remedyZH  string
}

// readCodeTable parses testdata/kms-error-codes.tsv, skipping its header line.
func readCodeTable(t *testing.T) []tsvRow {
	t.Helper()

	f, err := os.Open("testdata/kms-error-codes.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var rows []tsvRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if n == 1 {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 5 {
			t.Fatalf("line %d: got %d fields, want 5", n, len(fields))
		}
		status, err := strconv.Atoi(fields[0])
		if err != nil {
			t.Fatalf("line %d: bad status: %v", n, err)
		}
		rows = append(rows, tsvRow{status, fields[1], fields[2], fields[3], fields[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

func TestCatalogMatchesCodeTable(t *testing.T) {
	rows := readCodeTable(t)
	if len(rows) != 97 {
		t.Fatalf("code table has %d rows, want 97", len(rows))
	}

	for i, row := range rows {
		t.Run(row.code, func(t *testing.T) {
			if got := catalogEntries[i].Code; got != row.code {
				t.Errorf("catalogEntries[%d].Code = %q, want the table's order", i, got)
			}

			e, ok := Lookup(row.code)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", row.code)
			}
			want, ok := ParseClass(row.class)
			if !ok {
				t.Fatalf("ParseClass(%q) failed", row.class)
			}
			if e.Code != row.code || e.Status != row.status || e.Class != want {
				t.Errorf("got %s %d %v, want %s %d %v",
					e.Code, e.Status, e.Class, row.code, row.status, want)
			}
			if e.MessageZH != row.messageZH {
				t.Errorf("MessageZH = %q, want %q", e.MessageZH, row.messageZH)
			}
			if e.RemedyZH != row.remedyZH {
				t.Errorf("RemedyZH = %q, want %q", e.RemedyZH, row.remedyZH)
			}
		})
	}
}

func TestCatalogEntries(t *testing.T) {
	entries := Entries()
	if len(entries) != 101 {
		t.Fatalf("Entries() has %d entries, want 101", len(entries))
	}

	for i, e := range entries {
		if i > 0 && entries[i-1].Code >= e.Code {
			t.Errorf("entries %d and %d out of order or duplicated: %q, %q",
				i-1, i, entries[i-1].Code, e.Code)
		}
		if e.Message == "" || e.Remedy == "" {
			t.Errorf("%s: empty English message or remedy", e.Code)
		}
		if hasHan(e.Message) || hasHan(e.Remedy) {
			t.Errorf("%s: English text holds Chinese: %q / %q", e.Code, e.Message, e.Remedy)
		}
	}
}

func TestCatalogLookupOldGatewayPrefix(t *testing.T) {
	e, ok := Lookup("APIG.0308")
	if !ok || e.Code != "APIGW.0308" {
		t.Fatalf(`Lookup("APIG.0308") = %q, %v; want the APIGW.0308 entry`, e.Code, ok)
	}
	if e.Status != 429 || e.Class != Throttled {
		t.Errorf("APIG.0308: got %d %v, want 429 throttled", e.Status, e.Class)
	}
}

func TestCatalogClassify(t *testing.T) {
	tests := []struct {
		code string
		want Class
	}{
		{"KMS.0101", Retryable},
		{"KMS.0303", AuthRefresh},
		{"KMS.2605", AuthRefresh},
		{"KMS.0320", Billing},
		{"KMS.0328", Billing},
		{"KMS.0207", Fatal},
		{"APIGW.0308", Throttled},
		{"KMS.0104", Unknown},
		{"", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := Classify(tt.code); got != tt.want {
				t.Errorf("Classify(%q) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestCatalogParseClassRoundTrip(t *testing.T) {
	for _, c := range Classes {
		got, ok := ParseClass(c.String())
		if !ok || got != c {
			t.Errorf("ParseClass(%q) = %v, %v; want %v, true", c.String(), got, ok, c)
		}
	}
	if c, ok := ParseClass("unknown"); ok || c != Unknown {
		t.Errorf(`ParseClass("unknown") = %v, %v; want unknown, false`, c, ok)
	}
}
