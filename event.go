package kmsretry

import (
	"context"
	"log/slog"
	"time"
)

// EventKind says what an [Event] reports.
type EventKind int

const (
	// EventRetry: the request is about to be sent again after Wait.
	EventRetry EventKind = iota + 1

	// EventRefresh: credentials were refreshed, or the refresh failed.
	EventRefresh

	// EventGiveUp: the request failed and will not be sent again.
	EventGiveUp
)

// String returns "retry", "refresh" or "give-up".
func (k EventKind) String() string {
	switch k {
	case EventRetry:
		return "retry"
	case EventRefresh:
		return "refresh"
	case EventGiveUp:
		return "give-up"
	}
	return "unknown"
}

// Event describes one decision of the transport, for hooks and logs. It holds
// no URL, query, header or body, so it can be logged as it is.
type Event struct {
	Kind    EventKind
	Action  string        // the KMS action, such as "encrypt-data"
	Code    string        // the answer's KMS code, "" if none
	Status  int           // the answer's HTTP status, 0 if none
	Class   Class         // the class of the answer or failure
	Attempt int           // sends made so far
	Wait    time.Duration // the wait before the retry (EventRetry)
	Reason  string        // why the request was retried or given up
	Err     error         // the network or refresh failure, if any
}

// logEvent writes ev to l at a level fitting its kind: retries and refreshes
// at Info, give-ups at Warn.
func logEvent(ctx context.Context, l *slog.Logger, ev Event) {
	level := slog.LevelInfo
	if ev.Kind == EventGiveUp {
		level = slog.LevelWarn
	}

	attrs := []slog.Attr{
		slog.String("action", ev.Action),
		slog.String("class", ev.Class.String()),
		slog.Int("attempt", ev.Attempt),
	}
	if ev.Code != "" {
		attrs = append(attrs, slog.String("code", ev.Code))
	}
	if ev.Status != 0 {
		attrs = append(attrs, slog.Int("status", ev.Status))
	}
	if ev.Kind == EventRetry {
		attrs = append(attrs, slog.Duration("wait", ev.Wait))
	}
	if ev.Reason != "" {
		attrs = append(attrs, slog.String("reason", ev.Reason))
	}
	// A refresher's error is the user's own text and may quote credentials:
	// only hooks see it. Network errors carry no URL (see stripURL).
	if ev.Err != nil && ev.Kind != EventRefresh {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	l.LogAttrs(ctx, level, "kmsretry "+ev.Kind.String(), attrs...)
}
