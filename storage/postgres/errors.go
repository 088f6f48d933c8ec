package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// SQLSTATE codes of the integrity violations that carry domain meaning.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
	checkViolation      = "23514"
)

// constraintErrors maps the schema's named constraints (migrations) to the
// domain error their violation means.
var constraintErrors = map[string]error{
	"stock_levels_on_hand_check":          inventory.ErrInsufficientStock,
	"stock_levels_reserved_check":         inventory.ErrInsufficientStock,
	"stock_levels_reserved_on_hand_check": inventory.ErrInsufficientStock,
	"stock_movements_stock_after_check":   inventory.ErrInsufficientStock,
	"stock_movements_book_id_fkey":        inventory.ErrNotFound,
	"stock_movements_sale_id_fkey":        sales.ErrNotFound,
	"sale_items_book_id_fkey":             sales.ErrUnknownBook,
}

// translate returns err as a domain error when it is a violation of a
// constraint listed in constraintErrors, and unchanged otherwise.
func translate(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || (pe.Code != checkViolation && pe.Code != foreignKeyViolation) {
		return err
	}
	if target, ok := constraintErrors[pe.ConstraintName]; ok {
		return fmt.Errorf("%w (%s)", target, pe.ConstraintName)
	}
	return err
}

// Unavailable reports whether err means that the database could not be
// reached or went away (a failed connection, a connection lost or
// terminated by the server, a server shutting down, starting up or out of
// connection slots) rather than that the request was at fault: a failure
// worth retrying later. A change that failed this way may have committed
// if the connection was lost during COMMIT; retry it with the same
// idempotency key.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", // admin_shutdown (pg_terminate_backend)
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now
			pe.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	// A network failure, not any net.Error: context.DeadlineExceeded is
	// one too, and a request that ran out of time is not an outage.
	var oe *net.OpError
	return pgconn.SafeToRetry(err) || errors.As(err, &oe) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
