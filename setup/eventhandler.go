package setup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// eventSink is where the event handler writes: the Windows event log, or a fake in tests.
type eventSink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
	io.Closer
}

// eventHandler writes to an eventSink the records worth an operator's attention:
// those tagged with an event ID (Event) and every warning and error (EventOther when
// untagged). The message is the record's message followed by its attributes as
// key=value lines.
type eventHandler struct {
	sink   eventSink
	attrs  []slog.Attr // from WithAttrs, already qualified by groups
	groups []string
}

func newEventHandler(s eventSink) *eventHandler { return &eventHandler{sink: s} }

// Enabled is true: which records go out is decided in Handle.
func (h *eventHandler) Enabled(context.Context, slog.Level) bool { return true }

// Handle writes r to the sink when it is tagged or a warning or error.
func (h *eventHandler) Handle(_ context.Context, r slog.Record) error {
	id, tagged := EventID(0), false
	var lines []string
	add := func(a slog.Attr, prefix string) {
		a.Value = a.Value.Resolve()
		if a.Key == EventKey && prefix == "" {
			if v, ok := eventIDOf(a.Value); ok {
				id, tagged = v, true
				return
			}
		}
		lines = appendAttr(lines, prefix, a)
	}
	for _, a := range h.attrs {
		add(a, "")
	}
	prefix := strings.Join(h.groups, ".")
	if prefix != "" {
		prefix += "."
	}
	r.Attrs(func(a slog.Attr) bool {
		add(a, prefix)
		return true
	})
	if !tagged {
		if r.Level < slog.LevelWarn {
			return nil
		}
		id = EventOther
	}
	msg := r.Message
	if len(lines) > 0 {
		msg += "\r\n\r\n" + strings.Join(lines, "\r\n")
	}
	switch {
	case r.Level >= slog.LevelError:
		return h.sink.Error(uint32(id), msg)
	case r.Level >= slog.LevelWarn:
		return h.sink.Warning(uint32(id), msg)
	default:
		return h.sink.Info(uint32(id), msg)
	}
}

func eventIDOf(v slog.Value) (EventID, bool) {
	switch v.Kind() {
	case slog.KindInt64:
		if n := v.Int64(); n > 0 && n <= 0xFFFF {
			return EventID(n), true
		}
	case slog.KindUint64:
		if n := v.Uint64(); n > 0 && n <= 0xFFFF {
			return EventID(n), true
		}
	}
	return 0, false
}

// appendAttr renders a (flattening groups) as "key: value" lines.
func appendAttr(lines []string, prefix string, a slog.Attr) []string {
	if a.Equal(slog.Attr{}) {
		return lines
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			g.Value = g.Value.Resolve()
			lines = appendAttr(lines, p, g)
		}
		return lines
	}
	return append(lines, fmt.Sprintf("%s%s: %s", prefix, a.Key, a.Value.String()))
}

// WithAttrs returns a handler that adds as to every record.
func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := *h
	prefix := strings.Join(h.groups, ".")
	out.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if prefix != "" {
			a = slog.Group(prefix, a)
		}
		out.attrs = append(out.attrs, a)
	}
	return &out
}

// WithGroup returns a handler that qualifies later attributes with name.
func (h *eventHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	out := *h
	out.groups = append(append([]string(nil), h.groups...), name)
	return &out
}
