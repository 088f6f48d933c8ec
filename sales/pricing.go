package sales

import (
	"fmt"
	"math/big"
	"sort"
)

// Bounds on what one sale may hold. They keep every sum far from the int64
// range: a sale's subtotal is at most MaxSubtotal (10^12 minor units, ten
// billion dollars), so the statistics and summaries of millions of sales
// still fit.
const (
	MaxLines    = 100
	MaxQuantity = 100_000
	MaxPrice    = Money(10_000_000_000)    // per unit, in minor units
	MaxSubtotal = Money(1_000_000_000_000) // per sale, in minor units
)

// PriceLine is the input of one line to Price.
type PriceLine struct {
	UnitPrice Money
	Quantity  int64
	Discount  Money // absolute, at most UnitPrice*Quantity
}

// Priced is the outcome of Price.
type Priced struct {
	Lines    []PricedLine
	Subtotal Money // sum of line subtotals
	Discount Money // the sale discount
	Tax      Money
	Total    Money // Subtotal - Discount + Tax
}

// PricedLine is one priced line.
type PricedLine struct {
	Subtotal Money // UnitPrice*Quantity - line discount
	Share    Money // this line's part of the sale discount
	Net      Money // Subtotal - Share: the line's net revenue
}

// Price prices a sale: each line's subtotal after its discount, the sale
// discount split over the lines by largest remainder (proportional to their
// subtotals, ties to the earlier line), and tax = round_half_up((subtotal -
// discount) * rate), computed once. Lines' Net add up to Subtotal-Discount
// exactly. Negative or excessive discounts, quantities outside 1..MaxQuantity
// and prices outside 0..MaxPrice are errors wrapping ErrInvalid.
func Price(lines []PriceLine, discount Money, rate Rate) (Priced, error) {
	if len(lines) == 0 {
		return Priced{}, invalid("items", "must hold at least one line")
	}
	if len(lines) > MaxLines {
		return Priced{}, invalid("items", fmt.Sprintf("must hold at most %d lines", MaxLines))
	}
	p := Priced{Lines: make([]PricedLine, len(lines)), Discount: discount}
	for i, l := range lines {
		field := fmt.Sprintf("items[%d]", i)
		switch {
		case l.Quantity < 1 || l.Quantity > MaxQuantity:
			return Priced{}, invalid(field+".quantity", fmt.Sprintf("must be a whole number from 1 to %d", MaxQuantity))
		case l.UnitPrice < 0 || l.UnitPrice > MaxPrice:
			return Priced{}, invalid(field+".unitPrice", "is out of range")
		case l.Discount < 0:
			return Priced{}, invalid(field+".discount", "must not be negative")
		}
		base := l.UnitPrice * Money(l.Quantity) // < 1e12 * 1e5 = 1e17
		if l.Discount > base {
			return Priced{}, invalid(field+".discount", "must not exceed the line's price times quantity")
		}
		p.Lines[i].Subtotal = base - l.Discount // < 1e10 * 1e5 = 1e15
		p.Subtotal += p.Lines[i].Subtotal       // < 100 * 1e15: no overflow
		if p.Subtotal > MaxSubtotal {
			return Priced{}, invalid("items", "the sale's subtotal exceeds the limit of 10^12 minor units")
		}
	}
	switch {
	case discount < 0:
		return Priced{}, invalid("discount", "must not be negative")
	case discount > p.Subtotal:
		return Priced{}, invalid("discount", "must not exceed the subtotal")
	}
	split(p.Lines, p.Subtotal, discount)
	p.Tax = tax(p.Subtotal-discount, rate)
	p.Total = p.Subtotal - discount + p.Tax
	return p, nil
}

// split sets each line's Share of the discount by the largest remainder
// method, so that the shares add up to discount exactly.
func split(lines []PricedLine, subtotal, discount Money) {
	if discount == 0 || subtotal == 0 {
		for i := range lines {
			lines[i].Share = 0
			lines[i].Net = lines[i].Subtotal
		}
		return
	}
	type rem struct {
		i int
		r *big.Int
	}
	rems := make([]rem, len(lines))
	d, s := big.NewInt(int64(discount)), big.NewInt(int64(subtotal))
	left := discount
	for i, l := range lines {
		num := new(big.Int).Mul(d, big.NewInt(int64(l.Subtotal)))
		q, r := new(big.Int).QuoRem(num, s, new(big.Int))
		lines[i].Share = Money(q.Int64())
		left -= lines[i].Share
		rems[i] = rem{i, r}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r.Cmp(rems[b].r) > 0 })
	for k := 0; left > 0; k++ {
		lines[rems[k].i].Share++
		left--
	}
	for i := range lines {
		lines[i].Net = lines[i].Subtotal - lines[i].Share
	}
}

// tax returns round_half_up(base * rate) for a non-negative base.
func tax(base Money, rate Rate) Money {
	if base <= 0 || rate.num == 0 {
		return 0
	}
	den := big.NewInt(pow10(rate.scale))
	num := new(big.Int).Mul(big.NewInt(int64(base)), big.NewInt(rate.num))
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return Money(q.Int64())
}
