package analytics

import (
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/sales"
)

// BookStats are one book's sales statistics: completed sales that were not
// cancelled since.
type BookStats struct {
	BookID      uuid.UUID
	UnitsSold   int64
	NetRevenue  sales.Money // after line discounts and the book's share of sale discounts
	SalesCount  int64
	FirstSaleAt time.Time // zero before the first sale
	LastSaleAt  time.Time
}
