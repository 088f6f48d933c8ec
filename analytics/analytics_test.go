package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/sales"
)

// recordingTx keeps what the projection writes.
type recordingTx struct {
	stats []analytics.Delta
	days  []analytics.DayDelta
}

var _ analytics.Tx = (*recordingTx)(nil)

func (tx *recordingTx) AddBookStats(_ context.Context, ds []analytics.Delta) error {
	tx.stats = append(tx.stats, ds...)
	return nil
}

func (tx *recordingTx) AddDay(_ context.Context, d analytics.DayDelta) error {
	tx.days = append(tx.days, d)
	return nil
}

func TestApplySaleAndReturn(t *testing.T) {
	t.Parallel()
	a, b := uuid.MustParse("00000000-0000-7000-8000-00000000000a"), uuid.MustParse("00000000-0000-7000-8000-00000000000b")
	s := &sales.Sale{
		ID: uuid.New(), Status: sales.StatusCompleted, Currency: sales.USD,
		Lines: []sales.Line{
			{BookID: b, Quantity: 1, UnitPrice: 100, Subtotal: 100},
			{BookID: a, Quantity: 2, UnitPrice: 100, Discount: 50, Subtotal: 150},
			{BookID: b, Quantity: 1, UnitPrice: 100, Subtotal: 100},
		},
		Subtotal: 350, Discount: 35, Tax: 60, Total: 375,
		PaidAt: time.Date(2026, 3, 14, 23, 30, 0, 0, time.UTC), // the 15th in Berlin
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database")
	}
	tx := &recordingTx{}
	if err := analytics.ApplySale(t.Context(), tx, s, berlin); err != nil {
		t.Fatal(err)
	}
	if err := analytics.ApplyReturn(t.Context(), tx, s, berlin); err != nil {
		t.Fatal(err)
	}
	if len(tx.stats) != 4 || tx.stats[0].BookID != a || tx.stats[1].BookID != b {
		t.Fatalf("stats deltas = %+v; want a then b, twice", tx.stats)
	}
	sale, ret := tx.stats[:2], tx.stats[2:]
	var net sales.Money
	for i := range sale {
		net += sale[i].NetRevenue
		if ret[i].Units != -sale[i].Units || ret[i].NetRevenue != -sale[i].NetRevenue || ret[i].Sales != -1 || !ret[i].At.IsZero() {
			t.Errorf("return delta %+v does not reverse %+v", ret[i], sale[i])
		}
	}
	if net != 315 || sale[1].Units != 2 || !sale[0].At.Equal(s.PaidAt) {
		t.Errorf("sale deltas = %+v; want nets adding to 315 and b with 2 units", sale)
	}
	d := tx.days[0]
	if d.Zone != "Europe/Berlin" || d.Day != "2026-03-15" || d.Sales != 1 || d.Revenue != 375 || d.Net != 315 ||
		d.Tax != 60 || d.Discount != 85 || d.Items != 4 || len(d.Books) != 2 {
		t.Errorf("day delta = %+v", d)
	}
	if r := tx.days[1]; r.Day != d.Day || r.Sales != -1 || r.Revenue != -375 || r.Items != -4 || r.Books[0].Units != -d.Books[0].Units {
		t.Errorf("return day delta = %+v", r)
	}
}
