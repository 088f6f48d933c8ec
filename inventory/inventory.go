package inventory

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/sales"
)

// Errors returned by this package, checked with errors.Is.
var (
	// ErrNotFound means the book does not exist.
	ErrNotFound = errors.New("book not found")
	// ErrInvalid is sales.ErrInvalid: input broke a rule, see *sales.InvalidError.
	ErrInvalid = sales.ErrInvalid
	// ErrInsufficientStock is sales.ErrInsufficientStock: a movement would
	// take on-hand stock below what is reserved or below zero.
	ErrInsufficientStock = sales.ErrInsufficientStock
	// ErrDuplicateMovement means the sale already has a movement of that
	// type for that book.
	ErrDuplicateMovement = errors.New("duplicate sale movement")
)

// Book is the sellable item.
type Book struct {
	ID        uuid.UUID
	Title     string
	Author    string
	Price     sales.Money
	Available bool // offered for sale
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Level is a book's stock.
type Level struct {
	BookID   uuid.UUID
	OnHand   int64 // units in the shop
	Reserved int64 // units promised to pending (or not yet shipped) sales
	MinStock int64 // restock threshold
}

// Available returns the units that can still be sold: OnHand - Reserved.
func (l Level) Available() int64 { return l.OnHand - l.Reserved }

// MovementType is why on-hand stock changed.
type MovementType string

// The movement types. SALE and RETURN are written by the sale projection;
// the others by people.
const (
	Purchase   MovementType = "PURCHASE"   // restock, positive
	Sale       MovementType = "SALE"       // a completed sale leaving, negative
	Return     MovementType = "RETURN"     // a cancelled completed sale coming back, positive
	Adjustment MovementType = "ADJUSTMENT" // a count correction, either sign
	Damage     MovementType = "DAMAGE"     // negative
	Loss       MovementType = "LOSS"       // negative
)

// ParseMovementType returns the type named s, or an error wrapping ErrInvalid.
func ParseMovementType(s string) (MovementType, error) {
	switch t := MovementType(s); t {
	case Purchase, Sale, Return, Adjustment, Damage, Loss:
		return t, nil
	}
	return "", &sales.InvalidError{Field: "type", Reason: "must be one of PURCHASE, SALE, RETURN, ADJUSTMENT, DAMAGE, LOSS"}
}

// Movement is one entry of a book's append-only stock ledger.
type Movement struct {
	ID          uuid.UUID
	BookID      uuid.UUID
	Type        MovementType
	Quantity    int64 // signed change of on-hand stock
	StockBefore int64
	StockAfter  int64     // StockBefore + Quantity
	SaleID      uuid.UUID // uuid.Nil unless SALE or RETURN
	Reason      string
	CreatedAt   time.Time
}
