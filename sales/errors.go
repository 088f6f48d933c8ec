package sales

import (
	"errors"
	"fmt"
)

// Errors returned by this package, checked with errors.Is. Storage
// implementations return them too, wrapped with context.
var (
	// ErrNotFound means the sale does not exist.
	ErrNotFound = errors.New("sale not found")
	// ErrInvalid means the input broke a rule; the error is an *InvalidError
	// naming the field and the rule.
	ErrInvalid = errors.New("invalid input")
	// ErrUnknownBook means a line names a book the catalog does not have.
	ErrUnknownBook = errors.New("unknown book")
	// ErrBookUnavailable means a line names a book that is not offered for sale.
	ErrBookUnavailable = errors.New("book not available for sale")
	// ErrInsufficientStock means a book has fewer units available than asked for.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrIllegalTransition means the status change is not allowed from the
	// sale's current status (repeats included).
	ErrIllegalTransition = errors.New("illegal status change")
)

// InvalidError describes input that broke a rule. It matches ErrInvalid.
type InvalidError struct {
	Field  string // JSON path of the offending field, such as "items[1].quantity"; may be empty
	Reason string // what the rule is, in words a client can show
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid input: " + e.Reason
	}
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, reason string) *InvalidError {
	return &InvalidError{Field: field, Reason: reason}
}

// atField returns err with its field set to field when err is an
// *InvalidError without one.
func atField(err error, field string) error {
	var ie *InvalidError
	if errors.As(err, &ie) {
		f := field
		if ie.Field != "" && ie.Field != field {
			f = field + "." + ie.Field
		}
		return &InvalidError{Field: f, Reason: ie.Reason}
	}
	return err
}

// StockError reports which book lacks stock. It matches ErrInsufficientStock.
type StockError struct {
	BookID    string
	Requested int64
}

func (e *StockError) Error() string {
	return fmt.Sprintf("book %s: %d units requested: %v", e.BookID, e.Requested, ErrInsufficientStock)
}

// Is reports whether target is ErrInsufficientStock.
func (e *StockError) Is(target error) bool { return target == ErrInsufficientStock }
