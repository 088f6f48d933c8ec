package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
	"github.com/salesflow/salesflow/storage/postgres"
)

// Problem is an RFC 9457 problem document, the body of every error the
// server returns (content type application/problem+json). Code is a stable,
// machine-readable name of the problem; RequestID matches the X-Request-Id
// response header and the server's logs.
type Problem struct {
	Type      string              `json:"type,omitempty" format:"uri-reference" default:"about:blank" doc:"A URI reference that identifies the problem type; about:blank means the status says it all"`
	Title     string              `json:"title,omitempty" example:"Conflict" doc:"A short summary of the problem type"`
	Status    int                 `json:"status,omitempty" example:"409" doc:"The HTTP status code"`
	Detail    string              `json:"detail,omitempty" example:"book 0190a5c8-...: 3 units requested: insufficient stock" doc:"What went wrong with this request"`
	Instance  string              `json:"instance,omitempty" format:"uri-reference" doc:"The request path"`
	Code      string              `json:"code,omitempty" example:"insufficient_stock" doc:"Stable machine-readable problem code"`
	RequestID string              `json:"requestId,omitempty" doc:"The request id (X-Request-Id), for support"`
	Errors    []*huma.ErrorDetail `json:"errors,omitempty" doc:"The fields at fault, for invalid input"`
}

// Problem codes.
const (
	codeInvalid          = "invalid"
	codeMalformed        = "malformed"
	codeUnknownBook      = "unknown_book"
	codeBookUnavailable  = "book_unavailable"
	codeNotFound         = "not_found"
	codeInsufficient     = "insufficient_stock"
	codeIllegalMove      = "illegal_transition"
	codeKeyInFlight      = "idempotency_key_in_flight"
	codeKeyReused        = "idempotency_key_reused"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeTooLarge         = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
)

// retryAfter is the Retry-After of a 503, in seconds: the database and
// broker faults the chaos runs inject last one to a few seconds.
const retryAfter = "1"

func (p *Problem) Error() string { return p.Detail }

// GetStatus returns the HTTP status; see huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes Huma send problems as application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// newProblem returns a problem with status and detail; errs become the
// errors list (Huma passes its validation failures here).
func newProblem(status int, code, detail string, errs ...error) *Problem {
	p := &Problem{Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := *d.ErrorDetail()
			if ed.Location == "body" || strings.HasPrefix(ed.Location, "body.") {
				ed.Value = nil // Huma would echo (a part of) the body back
				ed.Message = clientText(ed.Message)
			}
			p.Errors = append(p.Errors, &ed)
			continue
		}
		p.Errors = append(p.Errors, &huma.ErrorDetail{Message: err.Error()})
	}
	return p
}

// jsonTypeError is encoding/json's message for a value that does not fit
// its Go type; it names Go types, which clients have no use for.
var jsonTypeError = regexp.MustCompile(`^json: cannot unmarshal (\w+)(?: (\S+))? into Go (?:struct field (\S+)|value) of type \S+$`)

// clientText rewrites the JSON decoder's messages in the API's terms.
func clientText(msg string) string {
	m := jsonTypeError.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	what := "a JSON " + m[1]
	if m[2] != "" {
		what += " (" + m[2] + ")"
	}
	if m[3] != "" {
		if _, field, ok := strings.Cut(m[3], "."); ok {
			return fmt.Sprintf("%s: %s is of the wrong type or out of range", field, what)
		}
	}
	return what + " is of the wrong type or out of range"
}

// humaDetail is the detail of a problem Huma reports: its own message, but
// for a media type it does not read, where it says "validation failed".
func humaDetail(status int, msg string) string {
	if status == http.StatusUnsupportedMediaType {
		return "the request body must be JSON, sent with Content-Type: application/json"
	}
	return msg
}

// codeForStatus names the problems that Huma itself reports.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return codeMalformed
	case http.StatusUnprocessableEntity:
		return codeInvalid
	case http.StatusRequestEntityTooLarge:
		return codeTooLarge
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusUnauthorized:
		return codeUnauthorized
	case http.StatusUnsupportedMediaType:
		return codeUnsupportedMedia
	case http.StatusForbidden:
		return codeForbidden
	}
	if status >= 500 {
		return codeInternal
	}
	return ""
}

// location names where a field the domain judged invalid was in the
// request, as Huma names the fields it judges: "body.items[0].discount",
// "query.startDate", "path.id", "header.Idempotency-Key". A field the
// route's pattern names is a path parameter; a GET has no body, so its
// other fields are the query's.
func location(ctx context.Context, field string) string {
	ri := infoOf(ctx)
	switch {
	case field == "" || ri == nil || ri.route == "":
		return field
	case field == "Idempotency-Key":
		return "header." + field
	case strings.Contains(ri.route, "{"+field+"}"):
		return "path." + field
	case strings.HasPrefix(ri.route, http.MethodGet+" "):
		return "query." + field
	}
	return "body." + field
}

// problemFor is the one place where errors become HTTP answers. Domain
// errors map to their status (DESIGN §7); a *Problem passes through; any
// other error is a 500 whose text stays in the log, written once here with
// the request id, and never reaches the client.
func problemFor(ctx context.Context, err error) *Problem {
	var (
		p  *Problem
		ie *sales.InvalidError
		se *sales.StockError
		rp *sales.Replay
	)
	st := keyStateOf(ctx)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &rp) && st != nil:
		// The idempotent middleware answers with the stored response
		// instead of this problem.
		st.replay = &rp.Response
		return newProblem(rp.Response.Status, "", "answered before")
	case errors.As(err, &ie):
		if st != nil {
			st.invalid = true
		}
		p = newProblem(http.StatusUnprocessableEntity, codeInvalid, ie.Error())
		p.Errors = []*huma.ErrorDetail{{Message: ie.Reason, Location: location(ctx, ie.Field)}}
		return p
	case errors.Is(err, sales.ErrInvalid):
		if st != nil {
			st.invalid = true
		}
		return newProblem(http.StatusUnprocessableEntity, codeInvalid, "invalid input")
	case errors.Is(err, sales.ErrKeyReused):
		if st != nil {
			st.keyErr = true
		}
		return newProblem(http.StatusUnprocessableEntity, codeKeyReused,
			"this Idempotency-Key was used with another request; use a new key for a new request")
	case errors.Is(err, sales.ErrKeyInFlight):
		if st != nil {
			st.keyErr = true
		}
		return newProblem(http.StatusConflict, codeKeyInFlight,
			"the first request with this Idempotency-Key is still running; retry later")
	case errors.Is(err, sales.ErrUnknownBook):
		return newProblem(http.StatusUnprocessableEntity, codeUnknownBook, err.Error())
	case errors.Is(err, sales.ErrBookUnavailable):
		return newProblem(http.StatusUnprocessableEntity, codeBookUnavailable, err.Error())
	case errors.As(err, &se):
		return newProblem(http.StatusConflict, codeInsufficient,
			fmt.Sprintf("book %s: fewer than %d units available", se.BookID, se.Requested))
	case errors.Is(err, sales.ErrInsufficientStock): // inventory.ErrInsufficientStock too
		return newProblem(http.StatusConflict, codeInsufficient, "insufficient stock for this change")
	case errors.Is(err, sales.ErrIllegalTransition):
		return newProblem(http.StatusConflict, codeIllegalMove, err.Error())
	case errors.Is(err, inventory.ErrDuplicateMovement):
		return newProblem(http.StatusConflict, codeIllegalMove, "the sale already has this movement")
	case errors.Is(err, sales.ErrNotFound):
		return newProblem(http.StatusNotFound, codeNotFound, "sale not found")
	case errors.Is(err, inventory.ErrNotFound):
		return newProblem(http.StatusNotFound, codeNotFound, "book not found")
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The client went away or the request timed out: nobody to tell.
		logger(ctx).LogAttrs(ctx, slog.LevelDebug, "request abandoned", slog.String("request_id", requestID(ctx)), slog.Any("err", err))
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "the request was cancelled before it finished")
	case postgres.Unavailable(err):
		// Not the request's fault: say when to come back. The text of a
		// connection error names hosts and databases, so it stays in the log.
		logger(ctx).LogAttrs(ctx, slog.LevelWarn, "database unavailable", slog.String("request_id", requestID(ctx)), slog.Any("err", err))
		return newProblem(http.StatusServiceUnavailable, codeUnavailable,
			"the database is unavailable; retry shortly (with the same Idempotency-Key)")
	}
	logger(ctx).LogAttrs(ctx, slog.LevelError, "unexpected error", slog.String("request_id", requestID(ctx)), slog.Any("err", err))
	return newProblem(http.StatusInternalServerError, codeInternal,
		"unexpected error; the server log has it under this request id")
}

// Every problem Huma makes goes through problemFor: a handler's error comes
// as a 500 with the error attached, which problemFor maps; Huma's own
// validation and parsing failures keep their status.
func init() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newProblem(status, codeForStatus(status), humaDetail(status, msg), errs...)
	}
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		ctx := context.Background()
		if hctx != nil {
			ctx = hctx.Context()
		}
		var p *Problem
		if status >= 500 && len(errs) == 1 && errs[0] != nil {
			p = problemFor(ctx, errs[0])
		} else {
			p = newProblem(status, codeForStatus(status), humaDetail(status, msg), errs...)
		}
		p.RequestID = requestID(ctx)
		if hctx != nil {
			p.Instance = hctx.URL().Path
			if p.Status == http.StatusServiceUnavailable || p.Code == codeKeyInFlight {
				hctx.SetHeader("Retry-After", retryAfter)
			}
		}
		return p
	}
}

// writeError answers a Huma request with err as a problem, for middlewares
// (handlers just return their errors). It hands err to Huma as an
// unexpected error, which the hook above maps with problemFor.
func (s *server) writeError(hctx huma.Context, err error) {
	_ = huma.WriteErr(s.api, hctx, http.StatusInternalServerError, "", err)
}

// writeProblem answers a plain net/http request (outside Huma's routes)
// with p.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.RequestID = requestID(r.Context())
	p.Instance = r.URL.Path
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"status":500}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}
