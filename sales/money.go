package sales

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Money is an amount in the minor units of a currency (cents for USD).
// It never passes through float64; its currency is carried next to it,
// by the sale or by the service's configuration.
type Money int64

// Format renders m as a plain decimal string with the currency's number of
// minor digits, for example "29.99" for 2999 cents or "100" for 100 yen.
func (m Money) Format(c Currency) string {
	d := c.Digits()
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Currency is an ISO 4217 currency: its three-letter code and the number of
// digits of its minor unit. The zero value is not valid; use ParseCurrency.
type Currency struct {
	code   string
	digits int
}

// USD is the default currency.
var USD = Currency{code: "USD", digits: 2}

// minorDigits lists the ISO 4217 currencies whose minor unit is not 2 digits.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0,
	"KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0,
	"XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// ParseCurrency returns the currency for a three-letter ISO 4217 code such
// as "USD" or "JPY". Codes are upper case; a code that is not three letters
// A-Z is an error wrapping ErrInvalid. Unknown well-formed codes get 2 digits.
func ParseCurrency(code string) (Currency, error) {
	if len(code) != 3 {
		return Currency{}, invalid("currency", "must be a three-letter ISO 4217 code")
	}
	for _, r := range code {
		if r < 'A' || r > 'Z' {
			return Currency{}, invalid("currency", "must be a three-letter ISO 4217 code in upper case")
		}
	}
	d, ok := minorDigits[code]
	if !ok {
		d = 2
	}
	return Currency{code: code, digits: d}, nil
}

// Code returns the ISO 4217 code, such as "USD".
func (c Currency) Code() string { return c.code }

// Digits returns the number of digits of the minor unit (2 for USD).
func (c Currency) Digits() int { return c.digits }

// String returns the code.
func (c Currency) String() string { return c.code }

// IsZero reports whether c is the zero value.
func (c Currency) IsZero() bool { return c.code == "" }

// MarshalJSON encodes the code as a JSON string.
func (c Currency) MarshalJSON() ([]byte, error) { return json.Marshal(c.code) }

// UnmarshalJSON decodes a code with ParseCurrency.
func (c *Currency) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return invalid("currency", "must be a string")
	}
	cur, err := ParseCurrency(s)
	if err != nil {
		return err
	}
	*c = cur
	return nil
}

// Decimal is an exact decimal number as a client wrote it, before it is
// turned into Money of a known currency. It decodes from a JSON string
// ("10.50") or a JSON number (10), so clients that send numbers keep
// working; exponents, NaN and infinities are rejected.
type Decimal struct {
	neg   bool
	whole string // digits before the point, no leading zeros ("" for zero)
	frac  string // digits after the point, as written
}

// ParseDecimal parses a plain decimal such as "10", "-3.5" or "0.19".
// It returns an error wrapping ErrInvalid for anything else.
func ParseDecimal(s string) (Decimal, error) {
	var d Decimal
	if strings.HasPrefix(s, "-") {
		d.neg = true
		s = s[1:]
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || (hasPoint && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return Decimal{}, errBadDecimal
	}
	d.whole = strings.TrimLeft(whole, "0")
	d.frac = frac
	if d.whole == "" && strings.Trim(frac, "0") == "" {
		d.neg = false // -0 is 0
	}
	return d, nil
}

// MustDecimal is ParseDecimal that panics on error, for constants and tests.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

var errBadDecimal = invalid("", "must be a decimal number such as \"10.50\"")

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsZero reports whether d is zero (the zero Decimal is zero).
func (d Decimal) IsZero() bool { return d.whole == "" && strings.Trim(d.frac, "0") == "" }

// String renders d as written, without leading zeros.
func (d Decimal) String() string {
	s := d.whole
	if s == "" {
		s = "0"
	}
	if d.frac != "" {
		s += "." + d.frac
	}
	if d.neg {
		s = "-" + s
	}
	return s
}

// Minor converts d to minor units of c. More decimals than the currency has
// (for example "10.555" in USD) and values beyond the int64 range are errors
// wrapping ErrInvalid.
func (d Decimal) Minor(c Currency) (Money, error) {
	if len(d.frac) > c.Digits() {
		return 0, invalid("", fmt.Sprintf("has more than %d decimal places for %s", c.Digits(), c.Code()))
	}
	digits := d.whole + d.frac + strings.Repeat("0", c.Digits()-len(d.frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, nil
	}
	u, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || u > math.MaxInt64 {
		return 0, invalid("", "is too large")
	}
	if d.neg {
		return Money(-int64(u)), nil
	}
	return Money(u), nil
}

// MarshalJSON encodes d as a JSON string.
func (d Decimal) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a JSON string or a JSON number holding a plain decimal.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return errBadDecimal
		}
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Rate is a non-negative decimal fraction such as a tax rate (0.19 for 19 %).
type Rate struct {
	num   int64 // numerator over 10^scale
	scale int
}

// ParseRate parses a rate between 0 and 1 written as a decimal ("0.19").
// At most 9 decimal places are kept exactly; more is an error wrapping ErrInvalid.
func ParseRate(s string) (Rate, error) {
	d, err := ParseDecimal(s)
	if err != nil {
		return Rate{}, invalid("taxRate", "must be a decimal such as 0.19")
	}
	if d.neg {
		return Rate{}, invalid("taxRate", "must not be negative")
	}
	if len(d.frac) > 9 {
		return Rate{}, invalid("taxRate", "has more than 9 decimal places")
	}
	digits := strings.TrimLeft(d.whole+d.frac, "0")
	var n int64
	if digits != "" {
		if len(digits) > 18 {
			return Rate{}, invalid("taxRate", "must be at most 1")
		}
		n, _ = strconv.ParseInt(digits, 10, 64)
	}
	r := Rate{num: n, scale: len(d.frac)}
	if r.num > pow10(r.scale) {
		return Rate{}, invalid("taxRate", "must be at most 1")
	}
	return r, nil
}

// String renders the rate as a decimal.
func (r Rate) String() string {
	return Money(r.num).Format(Currency{digits: r.scale})
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
