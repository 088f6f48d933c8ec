package sales

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecimalMinor(t *testing.T) {
	t.Parallel()
	jpy, _ := ParseCurrency("JPY")
	bhd, _ := ParseCurrency("BHD")
	cases := []struct {
		name string
		in   string // JSON
		cur  Currency
		want Money
		err  bool
	}{
		{"string", `"29.99"`, USD, 2999, false},
		{"number", `10`, USD, 1000, false},
		{"number with cents", `10.5`, USD, 1050, false},
		{"one decimal string", `"0.1"`, USD, 10, false},
		{"negative", `"-1.25"`, USD, -125, false},
		{"zero", `"0"`, USD, 0, false},
		{"negative zero", `"-0.00"`, USD, 0, false},
		{"leading zeros", `"007.50"`, USD, 750, false},
		{"yen", `"100"`, jpy, 100, false},
		{"dinar", `"1.005"`, bhd, 1005, false},
		{"too many decimals", `"10.555"`, USD, 0, true},
		{"trailing zero beyond digits", `"10.500"`, USD, 0, true},
		{"yen cents", `"1.5"`, jpy, 0, true},
		{"exponent", `1e3`, USD, 0, true},
		{"exponent string", `"1e3"`, USD, 0, true},
		{"empty", `""`, USD, 0, true},
		{"dot only", `"."`, USD, 0, true},
		{"no whole part", `".5"`, USD, 0, true},
		{"no fraction", `"5."`, USD, 0, true},
		{"plus sign", `"+5"`, USD, 0, true},
		{"spaces", `" 5"`, USD, 0, true},
		{"letters", `"abc"`, USD, 0, true},
		{"NaN", `"NaN"`, USD, 0, true},
		{"bool", `true`, USD, 0, true},
		{"null", `null`, USD, 0, true},
		{"overflow", `"99999999999999999999"`, USD, 0, true},
		{"max", `"92233720368547758.07"`, USD, 9223372036854775807, false},
		{"just over max", `"92233720368547758.08"`, USD, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Decimal
			err := json.Unmarshal([]byte(c.in), &d)
			var m Money
			if err == nil {
				m, err = d.Minor(c.cur)
			}
			if c.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("decode %s: error %v; want ErrInvalid", c.in, err)
				}
				return
			}
			if err != nil || m != c.want {
				t.Fatalf("decode %s = %d, %v; want %d", c.in, m, err, c.want)
			}
		})
	}
}

func TestMoneyFormat(t *testing.T) {
	t.Parallel()
	jpy, _ := ParseCurrency("JPY")
	bhd, _ := ParseCurrency("BHD")
	cases := []struct {
		m    Money
		cur  Currency
		want string
	}{
		{2999, USD, "29.99"}, {5, USD, "0.05"}, {0, USD, "0.00"}, {-125, USD, "-1.25"},
		{100, jpy, "100"}, {1005, bhd, "1.005"}, {-9223372036854775808, USD, "-92233720368547758.08"},
	}
	for _, c := range cases {
		if got := c.m.Format(c.cur); got != c.want {
			t.Errorf("Money(%d).Format(%s) = %q; want %q", c.m, c.cur, got, c.want)
		}
	}
}

func TestParseCurrency(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "us", "usd", "USDX", "U$D"} {
		if _, err := ParseCurrency(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCurrency(%q) error = %v; want ErrInvalid", bad, err)
		}
	}
	if c, err := ParseCurrency("EUR"); err != nil || c.Digits() != 2 || c.Code() != "EUR" {
		t.Errorf("ParseCurrency(EUR) = %v %d, %v", c, c.Digits(), err)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in  string
		ok  bool
		out string
	}{
		{"0.19", true, "0.19"}, {"0", true, "0"}, {"1", true, "1"}, {"0.075", true, "0.075"},
		{"1.01", false, ""}, {"-0.1", false, ""}, {"abc", false, ""}, {"0.1234567891", false, ""}, {"2", false, ""},
	} {
		r, err := ParseRate(c.in)
		if c.ok != (err == nil) || (c.ok && r.String() != c.out) {
			t.Errorf("ParseRate(%q) = %v, %v; want ok=%v %q", c.in, r, err, c.ok, c.out)
		}
	}
}

func FuzzDecimal(f *testing.F) {
	for _, s := range []string{`"29.99"`, `10`, `"-0.5"`, `1e3`, `"."`, `"007"`, `"1.005"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var d Decimal
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			return
		}
		m, err := d.Minor(USD)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Minor(%s) error %v does not wrap ErrInvalid", in, err)
			}
			return
		}
		// What decodes must format back to the same value.
		var back Decimal
		if err := json.Unmarshal([]byte(`"`+m.Format(USD)+`"`), &back); err != nil {
			t.Fatalf("formatted %s does not parse: %v", m.Format(USD), err)
		}
		if m2, err := back.Minor(USD); err != nil || m2 != m {
			t.Fatalf("round trip of %s: %d -> %q -> %d, %v", in, m, m.Format(USD), m2, err)
		}
	})
}
