package sales

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Status is the state of a sale.
type Status string

// The statuses of a sale. A sale starts PENDING; see CanMoveTo for the moves.
const (
	StatusPending   Status = "PENDING"
	StatusCompleted Status = "COMPLETED"
	StatusCancelled Status = "CANCELLED"
)

// ParseStatus returns the status named s, or an error wrapping ErrInvalid.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusPending, StatusCompleted, StatusCancelled:
		return st, nil
	}
	return "", invalid("status", "must be one of PENDING, COMPLETED, CANCELLED")
}

// CanMoveTo reports whether a sale in status s may move to next:
// PENDING to COMPLETED or CANCELLED, and COMPLETED to CANCELLED (a return).
// Nothing else is allowed, repeats included.
func (s Status) CanMoveTo(next Status) bool {
	switch s {
	case StatusPending:
		return next == StatusCompleted || next == StatusCancelled
	case StatusCompleted:
		return next == StatusCancelled
	}
	return false
}

// PaymentMethod is how a completed sale was paid.
type PaymentMethod string

// The accepted payment methods.
const (
	PaymentCash       PaymentMethod = "CASH"
	PaymentCreditCard PaymentMethod = "CREDIT_CARD"
	PaymentDebitCard  PaymentMethod = "DEBIT_CARD"
	PaymentTransfer   PaymentMethod = "TRANSFER"
	PaymentOther      PaymentMethod = "OTHER"
)

// ParsePaymentMethod returns the method named s, or an error wrapping ErrInvalid.
func ParsePaymentMethod(s string) (PaymentMethod, error) {
	switch m := PaymentMethod(s); m {
	case PaymentCash, PaymentCreditCard, PaymentDebitCard, PaymentTransfer, PaymentOther:
		return m, nil
	}
	return "", invalid("paymentMethod", "must be one of CASH, CREDIT_CARD, DEBIT_CARD, TRANSFER, OTHER")
}

// Sale is a sale with its lines. Amounts are in minor units of Currency.
type Sale struct {
	ID               uuid.UUID
	Status           Status
	Version          int64 // 1 at creation, +1 with each status change
	SellerID         string
	CustomerName     string
	CustomerEmail    string
	Notes            string
	Lines            []Line
	Subtotal         Money
	Discount         Money
	Tax              Money
	Total            Money
	Currency         Currency
	PaymentMethod    PaymentMethod // set on completion
	PaymentReference string
	PaidAt           time.Time // zero until completed
	CancelledAt      time.Time // zero unless cancelled
	CancelReason     string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Line is one line of a sale.
type Line struct {
	BookID    uuid.UUID
	Quantity  int64
	UnitPrice Money // the book's price when the sale was made
	Discount  Money // the line discount
	Subtotal  Money // UnitPrice*Quantity - Discount
}

// LineNets returns each line's net revenue: its subtotal less its share of
// the sale discount, split by largest remainder. They add up to
// Subtotal - Discount exactly.
func (s *Sale) LineNets() []Money {
	pl := make([]PricedLine, len(s.Lines))
	for i, l := range s.Lines {
		pl[i].Subtotal = l.Subtotal
	}
	split(pl, s.Subtotal, s.Discount)
	nets := make([]Money, len(pl))
	for i, l := range pl {
		nets[i] = l.Net
	}
	return nets
}

// NetByBook returns each book's units and net revenue in the sale (see
// LineNets), summed over its lines.
func (s *Sale) NetByBook() map[uuid.UUID]BookNet {
	nets := s.LineNets()
	out := make(map[uuid.UUID]BookNet, len(s.Lines))
	for i, l := range s.Lines {
		n := out[l.BookID]
		n.Units += l.Quantity
		n.Net += nets[i]
		out[l.BookID] = n
	}
	return out
}

// BookNet is one book's share of a sale.
type BookNet struct {
	Units int64
	Net   Money
}

// Quantities returns the units asked for per book, summed over lines.
func (s *Sale) Quantities() map[uuid.UUID]int64 {
	q := make(map[uuid.UUID]int64, len(s.Lines))
	for _, l := range s.Lines {
		q[l.BookID] += l.Quantity
	}
	return q
}

// saleJSON is the wire form of a sale: the API's and the events' value.
type saleJSON struct {
	ID               uuid.UUID      `json:"id"`
	Status           Status         `json:"status"`
	Version          int64          `json:"version"`
	SellerID         string         `json:"sellerId"`
	CustomerName     *string        `json:"customerName"`
	CustomerEmail    *string        `json:"customerEmail"`
	Notes            *string        `json:"notes"`
	Items            []lineJSON     `json:"items"`
	Subtotal         string         `json:"subtotal"`
	Discount         string         `json:"discount"`
	Tax              string         `json:"tax"`
	Total            string         `json:"total"`
	Currency         Currency       `json:"currency"`
	PaymentMethod    *PaymentMethod `json:"paymentMethod"`
	PaymentReference *string        `json:"paymentReference"`
	PaidAt           *time.Time     `json:"paidAt"`
	CancelledAt      *time.Time     `json:"cancelledAt"`
	CancelReason     *string        `json:"cancelReason"`
	CreatedAt        time.Time      `json:"createdAt"`
	UpdatedAt        time.Time      `json:"updatedAt"`
}

type lineJSON struct {
	BookID    uuid.UUID `json:"bookId"`
	Quantity  int64     `json:"quantity"`
	UnitPrice string    `json:"unitPrice"`
	Discount  string    `json:"discount"`
	Subtotal  string    `json:"subtotal"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// MarshalJSON encodes the sale as the API returns it: seed-compatible names,
// money as decimal strings, times in RFC 3339 UTC, absent values as null.
func (s Sale) MarshalJSON() ([]byte, error) {
	c := s.Currency
	w := saleJSON{
		ID: s.ID, Status: s.Status, Version: s.Version, SellerID: s.SellerID,
		CustomerName: optString(s.CustomerName), CustomerEmail: optString(s.CustomerEmail),
		Notes: optString(s.Notes), Items: make([]lineJSON, len(s.Lines)),
		Subtotal: s.Subtotal.Format(c), Discount: s.Discount.Format(c),
		Tax: s.Tax.Format(c), Total: s.Total.Format(c), Currency: c,
		PaymentReference: optString(s.PaymentReference),
		PaidAt:           optTime(s.PaidAt), CancelledAt: optTime(s.CancelledAt),
		CancelReason: optString(s.CancelReason),
		CreatedAt:    s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
	if s.PaymentMethod != "" {
		m := s.PaymentMethod
		w.PaymentMethod = &m
	}
	for i, l := range s.Lines {
		w.Items[i] = lineJSON{
			BookID: l.BookID, Quantity: l.Quantity, UnitPrice: l.UnitPrice.Format(c),
			Discount: l.Discount.Format(c), Subtotal: l.Subtotal.Format(c),
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON encodes, as consumers of sale
// events do. Money must have the currency's number of decimals or fewer.
func (s *Sale) UnmarshalJSON(b []byte) error {
	var w saleJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("decode sale: %w", err)
	}
	if w.Currency.IsZero() {
		return invalid("currency", "is required")
	}
	c := w.Currency
	money := func(field, v string) (Money, error) {
		d, err := ParseDecimal(v)
		if err != nil {
			return 0, atField(err, field)
		}
		m, err := d.Minor(c)
		return m, atField(err, field)
	}
	out := Sale{
		ID: w.ID, Status: w.Status, Version: w.Version, SellerID: w.SellerID,
		Currency: c, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
	if _, err := ParseStatus(string(w.Status)); err != nil {
		return err
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	out.CustomerName, out.CustomerEmail, out.Notes = deref(w.CustomerName), deref(w.CustomerEmail), deref(w.Notes)
	out.PaymentReference, out.CancelReason = deref(w.PaymentReference), deref(w.CancelReason)
	if w.PaymentMethod != nil {
		out.PaymentMethod = *w.PaymentMethod
	}
	if w.PaidAt != nil {
		out.PaidAt = *w.PaidAt
	}
	if w.CancelledAt != nil {
		out.CancelledAt = *w.CancelledAt
	}
	var err error
	for _, f := range []struct {
		name string
		src  string
		dst  *Money
	}{{"subtotal", w.Subtotal, &out.Subtotal}, {"discount", w.Discount, &out.Discount}, {"tax", w.Tax, &out.Tax}, {"total", w.Total, &out.Total}} {
		if *f.dst, err = money(f.name, f.src); err != nil {
			return err
		}
	}
	out.Lines = make([]Line, len(w.Items))
	for i, it := range w.Items {
		l := Line{BookID: it.BookID, Quantity: it.Quantity}
		field := fmt.Sprintf("items[%d]", i)
		if l.UnitPrice, err = money(field+".unitPrice", it.UnitPrice); err != nil {
			return err
		}
		if l.Discount, err = money(field+".discount", it.Discount); err != nil {
			return err
		}
		if l.Subtotal, err = money(field+".subtotal", it.Subtotal); err != nil {
			return err
		}
		out.Lines[i] = l
	}
	*s = out
	return nil
}
