package main

import (
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// The resources the API returns. Field order and JSON names follow DESIGN §7;
// money is a decimal string in the deployment's currency and times are RFC
// 3339 in UTC. A Sale encodes exactly as sales.Sale.MarshalJSON does, so the
// API and the sale events carry the same JSON (see TestSaleViewMatchesEvent).
//
// Every field is always sent. A pointer is null when the value is absent, so
// its schema admits null: Huma makes pointers to scalars nullable itself, but
// not pointers to types with a registered alias (uuid.UUID), which say so with
// a nullable tag. Lists are never null, and say so too: Huma makes every
// slice nullable. TestResponseFieldsInOpenAPI checks both rules.

// Sale is a sale with its lines.
type Sale struct {
	ID               uuid.UUID  `json:"id"`
	Status           string     `json:"status" enum:"PENDING,COMPLETED,CANCELLED"`
	Version          int64      `json:"version" doc:"1 at creation, +1 with each status change"`
	SellerID         string     `json:"sellerId" doc:"The subject of the token that created the sale"`
	CustomerName     *string    `json:"customerName"`
	CustomerEmail    *string    `json:"customerEmail"`
	Notes            *string    `json:"notes"`
	Items            []SaleLine `json:"items" nullable:"false"`
	Subtotal         string     `json:"subtotal" doc:"Sum of the line subtotals" example:"59.98"`
	Discount         string     `json:"discount" doc:"Sale discount" example:"0.00"`
	Tax              string     `json:"tax" doc:"round_half_up((subtotal - discount) * tax rate)" example:"0.00"`
	Total            string     `json:"total" doc:"subtotal - discount + tax" example:"59.98"`
	Currency         string     `json:"currency" doc:"ISO 4217 code" example:"USD"`
	PaymentMethod    *string    `json:"paymentMethod" enum:"CASH,CREDIT_CARD,DEBIT_CARD,TRANSFER,OTHER"`
	PaymentReference *string    `json:"paymentReference"`
	PaidAt           *time.Time `json:"paidAt"`
	CancelledAt      *time.Time `json:"cancelledAt"`
	CancelReason     *string    `json:"cancelReason"`
	CreatedAt        time.Time  `json:"createdAt"`
	UpdatedAt        time.Time  `json:"updatedAt"`
}

// SaleLine is one line of a sale.
type SaleLine struct {
	BookID    uuid.UUID `json:"bookId"`
	Quantity  int64     `json:"quantity"`
	UnitPrice string    `json:"unitPrice" doc:"The book's price when the sale was made" example:"29.99"`
	Discount  string    `json:"discount" doc:"Line discount" example:"0.00"`
	Subtotal  string    `json:"subtotal" doc:"unitPrice * quantity - discount" example:"59.98"`
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

func newSale(s *sales.Sale) Sale {
	c := s.Currency
	v := Sale{
		ID: s.ID, Status: string(s.Status), Version: s.Version, SellerID: s.SellerID,
		CustomerName: optString(s.CustomerName), CustomerEmail: optString(s.CustomerEmail),
		Notes: optString(s.Notes), Items: make([]SaleLine, len(s.Lines)),
		Subtotal: s.Subtotal.Format(c), Discount: s.Discount.Format(c),
		Tax: s.Tax.Format(c), Total: s.Total.Format(c), Currency: c.Code(),
		PaymentMethod: optString(string(s.PaymentMethod)), PaymentReference: optString(s.PaymentReference),
		PaidAt: optTime(s.PaidAt), CancelledAt: optTime(s.CancelledAt), CancelReason: optString(s.CancelReason),
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
	for i, l := range s.Lines {
		v.Items[i] = SaleLine{
			BookID: l.BookID, Quantity: l.Quantity, UnitPrice: l.UnitPrice.Format(c),
			Discount: l.Discount.Format(c), Subtotal: l.Subtotal.Format(c),
		}
	}
	return v
}

// PageMeta describes one page of a list.
type PageMeta struct {
	Total      int64 `json:"total" doc:"Items matching the query, on all pages"`
	Page       int   `json:"page" doc:"This page, from 1"`
	Limit      int   `json:"limit" doc:"Page size"`
	TotalPages int64 `json:"totalPages"`
}

func newMeta(total int64, page, limit int) PageMeta {
	if page == 0 {
		page = 1
	}
	if limit == 0 {
		limit = sales.DefaultLimit
	}
	return PageMeta{Total: total, Page: page, Limit: limit, TotalPages: (total + int64(limit) - 1) / int64(limit)}
}

// SalePage is one page of sales, newest first.
type SalePage struct {
	Data []Sale   `json:"data" nullable:"false"`
	Meta PageMeta `json:"meta"`
}

// Book is a sellable book.
type Book struct {
	ID        uuid.UUID `json:"id"`
	Title     string    `json:"title"`
	Author    string    `json:"author"`
	Price     string    `json:"price" example:"29.99"`
	Available bool      `json:"available" doc:"Whether the book is offered for sale"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func newBook(b *inventory.Book, c sales.Currency) Book {
	return Book{
		ID: b.ID, Title: b.Title, Author: b.Author, Price: b.Price.Format(c), Available: b.Available,
		CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt.UTC(),
	}
}

// BookPage is one page of the catalog, ordered by title.
type BookPage struct {
	Data []Book   `json:"data" nullable:"false"`
	Meta PageMeta `json:"meta"`
}

// StockLevel is a book's stock.
type StockLevel struct {
	BookID    uuid.UUID `json:"bookId"`
	OnHand    int64     `json:"onHand" doc:"Units in the shop"`
	Reserved  int64     `json:"reserved" doc:"Units promised to pending sales, and to completed sales the worker has not applied yet"`
	Available int64     `json:"available" doc:"onHand - reserved: units that can still be sold"`
	MinStock  int64     `json:"minStock" doc:"Restock threshold"`
}

func newStockLevel(l inventory.Level) StockLevel {
	return StockLevel{BookID: l.BookID, OnHand: l.OnHand, Reserved: l.Reserved, Available: l.Available(), MinStock: l.MinStock}
}

// StockLevelPage is one page of stock levels, ordered by book id.
type StockLevelPage struct {
	Data []StockLevel `json:"data" nullable:"false"`
	Meta PageMeta     `json:"meta"`
}

// Movement is one entry of a book's stock ledger.
type Movement struct {
	ID          uuid.UUID  `json:"id"`
	BookID      uuid.UUID  `json:"bookId"`
	Type        string     `json:"type" enum:"PURCHASE,SALE,RETURN,ADJUSTMENT,DAMAGE,LOSS"`
	Quantity    int64      `json:"quantity" doc:"Signed change of on-hand stock"`
	StockBefore int64      `json:"stockBefore"`
	StockAfter  int64      `json:"stockAfter" doc:"stockBefore + quantity"`
	SaleID      *uuid.UUID `json:"saleId" nullable:"true" doc:"The sale of a SALE or RETURN movement; null for a manual movement"`
	Reason      *string    `json:"reason"`
	CreatedAt   time.Time  `json:"createdAt"`
}

func newMovement(m inventory.Movement) Movement {
	v := Movement{
		ID: m.ID, BookID: m.BookID, Type: string(m.Type), Quantity: m.Quantity,
		StockBefore: m.StockBefore, StockAfter: m.StockAfter, Reason: optString(m.Reason),
		CreatedAt: m.CreatedAt.UTC(),
	}
	if m.SaleID != uuid.Nil {
		id := m.SaleID
		v.SaleID = &id
	}
	return v
}

// MovementPage is one page of the ledger, oldest first.
type MovementPage struct {
	Data []Movement `json:"data" nullable:"false"`
	Meta PageMeta   `json:"meta"`
}

// BookStats are one book's sales statistics: completed sales not cancelled since.
type BookStats struct {
	BookID      uuid.UUID  `json:"bookId"`
	UnitsSold   int64      `json:"unitsSold"`
	NetRevenue  string     `json:"netRevenue" doc:"After line discounts and the book's share of sale discounts" example:"59.98"`
	SalesCount  int64      `json:"salesCount"`
	FirstSaleAt *time.Time `json:"firstSaleAt"`
	LastSaleAt  *time.Time `json:"lastSaleAt"`
}

func newBookStats(s analytics.BookStats, c sales.Currency) BookStats {
	return BookStats{
		BookID: s.BookID, UnitsSold: s.UnitsSold, NetRevenue: s.NetRevenue.Format(c), SalesCount: s.SalesCount,
		FirstSaleAt: optTime(s.FirstSaleAt), LastSaleAt: optTime(s.LastSaleAt),
	}
}

// BookStatsPage is one page of book statistics.
type BookStatsPage struct {
	Data []BookStats `json:"data" nullable:"false"`
	Meta PageMeta    `json:"meta"`
}

// Summary aggregates the completed sales of a date range.
type Summary struct {
	Currency          string      `json:"currency" example:"USD"`
	TotalSales        int64       `json:"totalSales" doc:"Number of sales"`
	TotalRevenue      string      `json:"totalRevenue" doc:"Sum of totals, tax included"`
	NetRevenue        string      `json:"netRevenue" doc:"Sum of subtotal - discount"`
	TotalTax          string      `json:"totalTax"`
	TotalDiscount     string      `json:"totalDiscount" doc:"Sale discounts plus line discounts"`
	TotalItems        int64       `json:"totalItems" doc:"Units sold"`
	AverageOrderValue string      `json:"averageOrderValue" doc:"totalRevenue / totalSales, rounded half up"`
	SalesByDay        []DaySales  `json:"salesByDay" nullable:"false" doc:"One entry per day with sales, in the configured time zone"`
	TopBooks          []BookSales `json:"topBooks" nullable:"false" doc:"The best-selling books by units"`
}

// DaySales is one calendar day of a summary.
type DaySales struct {
	Date       string `json:"date" format:"date" example:"2025-01-31"`
	Sales      int64  `json:"sales"`
	Revenue    string `json:"revenue"`
	NetRevenue string `json:"netRevenue"`
}

// BookSales is one book's line of a summary.
type BookSales struct {
	BookID     uuid.UUID `json:"bookId"`
	UnitsSold  int64     `json:"unitsSold"`
	NetRevenue string    `json:"netRevenue"`
}

func newSummary(s sales.Summary) Summary {
	c := s.Currency
	v := Summary{
		Currency: c.Code(), TotalSales: s.TotalSales, TotalRevenue: s.TotalRevenue.Format(c),
		NetRevenue: s.NetRevenue.Format(c), TotalTax: s.TotalTax.Format(c),
		TotalDiscount: s.TotalDiscount.Format(c), TotalItems: s.TotalItems,
		AverageOrderValue: s.AverageOrderValue.Format(c),
		SalesByDay:        make([]DaySales, len(s.SalesByDay)), TopBooks: make([]BookSales, len(s.TopBooks)),
	}
	for i, d := range s.SalesByDay {
		v.SalesByDay[i] = DaySales{d.Date, d.Sales, d.Revenue.Format(c), d.NetRevenue.Format(c)}
	}
	for i, b := range s.TopBooks {
		v.TopBooks[i] = BookSales{b.BookID, b.UnitsSold, b.NetRevenue.Format(c)}
	}
	return v
}
