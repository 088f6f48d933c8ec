package sales

import (
	"errors"
	"testing"
)

func TestPrice(t *testing.T) {
	t.Parallel()
	r19 := mustRate(t, "0.19")
	cases := []struct {
		name     string
		lines    []PriceLine
		discount Money
		rate     Rate
		want     Priced
	}{
		{
			name:  "one line no tax",
			lines: []PriceLine{{UnitPrice: 2999, Quantity: 2}},
			want:  Priced{Lines: []PricedLine{{Subtotal: 5998, Net: 5998}}, Subtotal: 5998, Total: 5998},
		},
		{
			name:     "tax rounds half up once",
			lines:    []PriceLine{{UnitPrice: 1000, Quantity: 2, Discount: 100}, {UnitPrice: 550, Quantity: 1}},
			discount: 200, rate: r19,
			// 1900 + 550 = 2450; -200 = 2250; *0.19 = 427.5 -> 428
			want: Priced{
				Lines:    []PricedLine{{Subtotal: 1900, Share: 155, Net: 1745}, {Subtotal: 550, Share: 45, Net: 505}},
				Subtotal: 2450, Discount: 200, Tax: 428, Total: 2678,
			},
		},
		{
			name:     "largest remainder, tie to earlier line",
			lines:    []PriceLine{{UnitPrice: 100, Quantity: 1}, {UnitPrice: 100, Quantity: 1}, {UnitPrice: 100, Quantity: 1}},
			discount: 100,
			want: Priced{
				Lines:    []PricedLine{{Subtotal: 100, Share: 34, Net: 66}, {Subtotal: 100, Share: 33, Net: 67}, {Subtotal: 100, Share: 33, Net: 67}},
				Subtotal: 300, Discount: 100, Total: 200,
			},
		},
		{
			name:     "whole subtotal discounted",
			lines:    []PriceLine{{UnitPrice: 333, Quantity: 1}, {UnitPrice: 667, Quantity: 1}},
			discount: 1000, rate: r19,
			want: Priced{
				Lines:    []PricedLine{{Subtotal: 333, Share: 333}, {Subtotal: 667, Share: 667}},
				Subtotal: 1000, Discount: 1000, Total: 0,
			},
		},
		{
			name:  "free line",
			lines: []PriceLine{{UnitPrice: 0, Quantity: 3}},
			want:  Priced{Lines: []PricedLine{{}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Price(c.lines, c.discount, c.rate)
			if err != nil {
				t.Fatalf("Price: %v", err)
			}
			if !equalPriced(got, c.want) {
				t.Errorf("Price = %+v\nwant    %+v", got, c.want)
			}
		})
	}
}

func equalPriced(a, b Priced) bool {
	if len(a.Lines) != len(b.Lines) || a.Subtotal != b.Subtotal || a.Discount != b.Discount || a.Tax != b.Tax || a.Total != b.Total {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return true
}

func mustRate(t testing.TB, s string) Rate {
	t.Helper()
	r, err := ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPriceRejects(t *testing.T) {
	t.Parallel()
	ok := PriceLine{UnitPrice: 100, Quantity: 1}
	many := make([]PriceLine, MaxLines+1)
	for i := range many {
		many[i] = ok
	}
	cases := []struct {
		name     string
		lines    []PriceLine
		discount Money
		field    string
	}{
		{"no lines", nil, 0, "items"},
		{"too many lines", many, 0, "items"},
		{"zero quantity", []PriceLine{{UnitPrice: 1, Quantity: 0}}, 0, "items[0].quantity"},
		{"negative quantity", []PriceLine{ok, {UnitPrice: 1, Quantity: -2}}, 0, "items[1].quantity"},
		{"negative price", []PriceLine{{UnitPrice: -1, Quantity: 1}}, 0, "items[0].unitPrice"},
		{"negative line discount", []PriceLine{{UnitPrice: 1, Quantity: 1, Discount: -1}}, 0, "items[0].discount"},
		{"line discount above base", []PriceLine{{UnitPrice: 100, Quantity: 2, Discount: 201}}, 0, "items[0].discount"},
		{"negative sale discount", []PriceLine{ok}, -1, "discount"},
		{"sale discount above subtotal", []PriceLine{ok}, 101, "discount"},
		{"subtotal above the limit", []PriceLine{{UnitPrice: MaxPrice, Quantity: 101}}, 0, "items"},
	}
	for _, c := range cases {
		_, err := Price(c.lines, c.discount, Rate{})
		var ie *InvalidError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || ie.Field != c.field {
			t.Errorf("%s: error = %v; want an InvalidError on %s", c.name, err, c.field)
		}
	}
}

// FuzzPrice checks the pricing identities for any lines, prices and
// discounts within bounds.
func FuzzPrice(f *testing.F) {
	f.Add(uint64(2999), uint64(2), uint64(100), uint64(550), uint64(1), uint64(0), uint64(200), uint16(19), uint8(2))
	f.Add(uint64(1), uint64(1), uint64(0), uint64(1), uint64(1), uint64(1), uint64(1), uint16(5000), uint8(3))
	f.Fuzz(func(t *testing.T, p1, q1, d1, p2, q2, d2, disc uint64, rateBP uint16, n uint8) {
		rate := Rate{num: int64(rateBP % 10001), scale: 4}
		var lines []PriceLine
		for i := range int(n%5) + 1 {
			p, q, d := p1, q1, d1
			if i%2 == 1 {
				p, q, d = p2, q2, d2
			}
			up := Money(p % uint64(MaxPrice+1))
			qty := int64(q%MaxQuantity) + 1
			base := up * Money(qty)
			lines = append(lines, PriceLine{UnitPrice: up, Quantity: qty, Discount: Money(d % uint64(base+1))})
			p1, q1, d1 = p1*31+7, q1*17+3, d1*13+1
		}
		var sub Money
		for _, l := range lines {
			sub += l.UnitPrice*Money(l.Quantity) - l.Discount
		}
		if sub < 0 { // beyond int64: rejected, nothing to check
			return
		}
		got, err := Price(lines, Money(disc%uint64(sub+1)), rate)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Price error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var net, share Money
		for i, l := range got.Lines {
			if l.Share < 0 || l.Net < 0 || l.Net != l.Subtotal-l.Share {
				t.Fatalf("line %d = %+v", i, l)
			}
			net += l.Net
			share += l.Share
		}
		if net != got.Subtotal-got.Discount || share != got.Discount {
			t.Fatalf("line nets add up to %d, shares to %d; want %d and %d", net, share, got.Subtotal-got.Discount, got.Discount)
		}
		if got.Total != got.Subtotal-got.Discount+got.Tax || got.Tax < 0 || got.Tax > got.Subtotal-got.Discount {
			t.Fatalf("total %d, tax %d for subtotal %d and discount %d", got.Total, got.Tax, got.Subtotal, got.Discount)
		}
	})
}

func BenchmarkPrice(b *testing.B) {
	lines := []PriceLine{
		{UnitPrice: 2999, Quantity: 2, Discount: 100}, {UnitPrice: 550, Quantity: 1},
		{UnitPrice: 1250, Quantity: 3}, {UnitPrice: 999, Quantity: 1, Discount: 99}, {UnitPrice: 4500, Quantity: 1},
	}
	rate := Rate{num: 19, scale: 2}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Price(lines, 500, rate); err != nil {
			b.Fatal(err)
		}
	}
}
