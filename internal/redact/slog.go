package redact

import (
	"context"
	"log/slog"
	"net/url"
)

// Handler wraps h so that every record is redacted before h sees it, at one
// point rather than at each call site: the message and every string
// attribute have their URLs redacted (Text), an error attribute becomes its
// redacted text (Error), a *url.URL its redacted form (URL), and an attribute
// whose key names a secret (SensitiveKey: "token", "authorization", ...) is
// masked whole. Attributes in groups and those added with WithAttrs are
// redacted alike. Wrapping a Handler again returns it as it is.
func Handler(h slog.Handler) slog.Handler {
	if r, ok := h.(handler); ok {
		return r
	}
	return handler{next: h}
}

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = attr(a)
	}
	return handler{next: h.next.WithAttrs(red)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{next: h.next.WithGroup(name)}
}

// attr returns a redacted.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if SensitiveKey(a.Key) && v.Kind() != slog.KindGroup {
		return slog.String(a.Key, Mask)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = attr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Error(x))
		case *url.URL:
			if x == nil {
				return a
			}
			return slog.String(a.Key, URL(x.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
