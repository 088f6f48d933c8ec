package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// SQLSTATE codes of the integrity violations that carry domain meaning.
const (
	foreignKeyViolation = "23503"
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
