package eventbus

import "context"

type traceKey struct{}

// WithTraceParent returns ctx carrying a W3C trace context (the
// traceparent header of the request being served), so that the events a
// change publishes carry it too (Event.TraceParent) and consumers can
// continue the trace. A value that is not a valid version-00 traceparent
// is ignored.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if !ValidTraceParent(traceparent) {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, traceparent)
}

// TraceParent returns the trace context WithTraceParent put in ctx, or "".
func TraceParent(ctx context.Context) string {
	tp, _ := ctx.Value(traceKey{}).(string)
	return tp
}

// ValidTraceParent reports whether s is a W3C traceparent of version 00:
// "00-" 32 lowercase hex digits (the trace id, not all zero) "-" 16 (the
// parent id, not all zero) "-" 2 (the flags).
func ValidTraceParent(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	hex := func(part string) (ok, nonzero bool) {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false, false
			}
			nonzero = nonzero || c != '0'
		}
		return true, nonzero
	}
	okTrace, nonzeroTrace := hex(s[3:35])
	okParent, nonzeroParent := hex(s[36:52])
	okFlags, _ := hex(s[53:55])
	return okTrace && nonzeroTrace && okParent && nonzeroParent && okFlags
}
