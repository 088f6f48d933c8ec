package sales

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// SummaryQuery selects the completed sales a summary covers.
type SummaryQuery struct {
	From, To time.Time      // paidAt in [From, To)
	Location *time.Location // whose calendar days SalesByDay counts
	TopN     int            // how many TopBooks
}

// Summary aggregates completed sales that were not cancelled since.
type Summary struct {
	Currency          Currency
	TotalSales        int64 // number of sales
	TotalRevenue      Money // sum of totals, tax included
	NetRevenue        Money // sum of subtotal - discount
	TotalTax          Money
	TotalDiscount     Money // sale discounts plus line discounts
	TotalItems        int64 // units sold
	AverageOrderValue Money // TotalRevenue / TotalSales, rounded half up
	SalesByDay        []DaySales
	TopBooks          []BookSales
}

// DaySales is one calendar day of a Summary, in the configured time zone.
type DaySales struct {
	Date       string // YYYY-MM-DD
	Sales      int64
	Revenue    Money
	NetRevenue Money
}

// BookSales is one book's line in a Summary's TopBooks.
type BookSales struct {
	BookID     uuid.UUID
	UnitsSold  int64
	NetRevenue Money
}

// DefaultTopBooks is how many books Summary ranks.
const DefaultTopBooks = 10

// MaxSummaryDays bounds the range of one summary.
const MaxSummaryDays = 3660

// Summary returns the summary of sales completed (by paidAt) between the
// calendar days of start and end, both inclusive, in the service's time
// zone, and not cancelled since. Only the year, month and day of start and
// end are used. An end before start wraps ErrInvalid.
func (svc *Service) Summary(ctx context.Context, start, end time.Time) (Summary, error) {
	from := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, svc.loc)
	to := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, svc.loc).AddDate(0, 0, 1)
	if !to.After(from) {
		return Summary{}, invalid("endDate", "must not be before startDate")
	}
	if to.Sub(from) > MaxSummaryDays*24*time.Hour {
		return Summary{}, invalid("endDate", "range must be at most 3660 days")
	}
	s, err := svc.summarizer.Summary(ctx, SummaryQuery{From: from, To: to, Location: svc.loc, TopN: DefaultTopBooks})
	if err != nil {
		return Summary{}, err
	}
	s.Currency = svc.currency
	if s.TotalSales > 0 {
		s.AverageOrderValue = (s.TotalRevenue*2 + Money(s.TotalSales)) / (2 * Money(s.TotalSales))
	}
	if s.SalesByDay == nil {
		s.SalesByDay = []DaySales{}
	}
	if s.TopBooks == nil {
		s.TopBooks = []BookSales{}
	}
	return s, nil
}

// MarshalJSON encodes the summary with money as decimal strings.
func (s Summary) MarshalJSON() ([]byte, error) {
	c := s.Currency
	type day struct {
		Date       string `json:"date"`
		Sales      int64  `json:"sales"`
		Revenue    string `json:"revenue"`
		NetRevenue string `json:"netRevenue"`
	}
	type book struct {
		BookID     uuid.UUID `json:"bookId"`
		UnitsSold  int64     `json:"unitsSold"`
		NetRevenue string    `json:"netRevenue"`
	}
	w := struct {
		Currency          Currency `json:"currency"`
		TotalSales        int64    `json:"totalSales"`
		TotalRevenue      string   `json:"totalRevenue"`
		NetRevenue        string   `json:"netRevenue"`
		TotalTax          string   `json:"totalTax"`
		TotalDiscount     string   `json:"totalDiscount"`
		TotalItems        int64    `json:"totalItems"`
		AverageOrderValue string   `json:"averageOrderValue"`
		SalesByDay        []day    `json:"salesByDay"`
		TopBooks          []book   `json:"topBooks"`
	}{
		Currency: c, TotalSales: s.TotalSales, TotalRevenue: s.TotalRevenue.Format(c),
		NetRevenue: s.NetRevenue.Format(c), TotalTax: s.TotalTax.Format(c),
		TotalDiscount: s.TotalDiscount.Format(c), TotalItems: s.TotalItems,
		AverageOrderValue: s.AverageOrderValue.Format(c),
		SalesByDay:        make([]day, len(s.SalesByDay)), TopBooks: make([]book, len(s.TopBooks)),
	}
	for i, d := range s.SalesByDay {
		w.SalesByDay[i] = day{d.Date, d.Sales, d.Revenue.Format(c), d.NetRevenue.Format(c)}
	}
	for i, b := range s.TopBooks {
		w.TopBooks[i] = book{b.BookID, b.UnitsSold, b.NetRevenue.Format(c)}
	}
	return json.Marshal(w)
}
