package kmsretry

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	// HTTP-dates have whole seconds; so has now, so the waits are exact.
	now := time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }

	tests := []struct {
		name   string
		header []string // nil: no Retry-After header
		want   time.Duration
		wantOK bool
	}{
		{"absent", nil, 0, false},
		{"empty", []string{""}, 0, false},
		{"seconds", []string{"3"}, 3 * time.Second, true},
		{"two minutes", []string{"120"}, 2 * time.Minute, true},
		{"zero", []string{"0"}, 0, true},
		{"leading zeros", []string{"007"}, 7 * time.Second, true},
		{"one day", []string{"86400"}, 24 * time.Hour, true},
		{"over a day clamped", []string{"86401"}, 24 * time.Hour, true},
		{"huge clamped", []string{"9223372036854775807"}, 24 * time.Hour, true},
		{"beyond int64 clamped", []string{"99999999999999999999"}, 24 * time.Hour, true},
		{"negative", []string{"-1"}, 0, false},
		{"very negative", []string{"-9223372036854775808"}, 0, false},
		{"beyond int64 negative", []string{"-99999999999999999999"}, 0, false},
		{"fraction", []string{"1.5"}, 0, false},
		{"garbage", []string{"soon"}, 0, false},
		{"unit", []string{"5s"}, 0, false},
		{"hex", []string{"0x10"}, 0, false},
		{"first value counts", []string{"2", "9"}, 2 * time.Second, true},

		{"date in 90s", []string{date(90 * time.Second)}, 90 * time.Second, true},
		{"date in an hour", []string{date(time.Hour)}, time.Hour, true},
		{"date now", []string{date(0)}, 0, false},
		{"date in the past", []string{date(-time.Minute)}, 0, false},
		{"RFC 850 date", []string{now.Add(30 * time.Second).
			Format("Monday, 02-Jan-06 15:04:05 GMT")}, 30 * time.Second, true},
		{"ANSI C date", []string{now.Add(45 * time.Second).
			Format(time.ANSIC)}, 45 * time.Second, true},
		{"date with a zone", []string{now.Add(time.Minute).
			Format(time.RFC1123Z)}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.header {
				h.Add("Retry-After", v)
			}
			got, ok := retryAfter(h, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, %v",
					tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}

	t.Run("nil header", func(t *testing.T) {
		if d, ok := retryAfter(nil, now); d != 0 || ok {
			t.Errorf("retryAfter(nil) = %v, %v", d, ok)
		}
	})
}
