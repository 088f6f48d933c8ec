package main

import (
	"reflect"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// The request bodies are the domain's own types (sales.NewSale,
// inventory.NewBook, ...), which know nothing of OpenAPI. These stand-ins
// give Huma the schemas of the domain's value types, and describeSchemas
// documents the domain's structs once they are registered.

// decimalSchema is the schema of sales.Decimal, which decodes from a JSON
// string ("29.99") or a JSON number (29.99).
type decimalSchema struct{}

func (decimalSchema) Schema(huma.Registry) *huma.Schema {
	s := &huma.Schema{
		Description: `An exact decimal amount, such as "29.99": a string (preferred) or a number, without exponent`,
		AnyOf: []*huma.Schema{
			{Type: huma.TypeString, Pattern: `^-?[0-9]+(\.[0-9]+)?$`, Examples: []any{"29.99"}},
			{Type: huma.TypeNumber},
		},
	}
	for _, sub := range s.AnyOf {
		sub.PrecomputeMessages()
	}
	return s
}

// uuidSchema is the schema of uuid.UUID.
type uuidSchema struct{}

func (uuidSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Format: "uuid", Examples: []any{"0190a5c8-6f1e-7b3a-9c2d-4e5f60718293"}}
}

// movementTypeSchema is the schema of the manual movement types.
type movementTypeSchema struct{}

func (movementTypeSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeString,
		Enum:        []any{string(inventory.Purchase), string(inventory.Adjustment), string(inventory.Damage), string(inventory.Loss)},
		Description: "PURCHASE (positive quantity), ADJUSTMENT (either sign, not zero), DAMAGE or LOSS (negative)",
	}
}

func registerAliases(r huma.Registry) {
	r.RegisterTypeAlias(reflect.TypeFor[sales.Decimal](), reflect.TypeFor[decimalSchema]())
	r.RegisterTypeAlias(reflect.TypeFor[uuid.UUID](), reflect.TypeFor[uuidSchema]())
	r.RegisterTypeAlias(reflect.TypeFor[inventory.MovementType](), reflect.TypeFor[movementTypeSchema]())
}

// describeSchemas adds the documentation and bounds of the domain's request
// types to their registered schemas. Bounds repeat the domain's own checks,
// so a client reads them in the document; the domain still enforces them.
// Last, it lets every nullable enum of every schema admit null (see
// nullInEnum).
func describeSchemas(r huma.Registry) {
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	type prop struct {
		doc           string
		min, max      *float64
		maxLen        *int
		minItem, maxI *int
	}
	docs := map[string]map[string]prop{
		"NewSale": {
			"":              {doc: "A sale to create. The seller is the token's subject; stock is reserved at once."},
			"customerName":  {doc: "Optional", maxLen: n(sales.MaxNameLen)},
			"customerEmail": {doc: "Optional email address", maxLen: n(sales.MaxEmailLen)},
			"items":         {doc: "The lines; lines of the same book are summed for the stock check", minItem: n(1), maxI: n(sales.MaxLines)},
			"discount":      {doc: "Sale discount, an absolute amount at most subtotal after line discounts"},
			"notes":         {doc: "Optional", maxLen: n(sales.MaxNotesLen)},
		},
		"NewLine": {
			"bookId":   {doc: "The book sold"},
			"quantity": {doc: "Units, a whole number", min: f(1), max: f(sales.MaxQuantity)},
			"discount": {doc: "Line discount, an absolute amount at most unit price × quantity"},
		},
		"NewBook": {
			"":          {doc: "A book to add to the catalog."},
			"title":     {maxLen: n(inventory.MaxTitleLen)},
			"author":    {maxLen: n(inventory.MaxTitleLen)},
			"price":     {doc: "Unit price in the deployment's currency"},
			"available": {doc: "Offered for sale (default true)"},
			"stock":     {doc: "Initial on-hand units, recorded as a PURCHASE movement", min: f(0), max: f(inventory.MaxUnits)},
			"minStock":  {doc: "Restock threshold", min: f(0), max: f(inventory.MaxUnits)},
		},
		"BookPatch": {
			"":          {doc: "The fields to change; absent fields stay as they are."},
			"title":     {maxLen: n(inventory.MaxTitleLen)},
			"author":    {maxLen: n(inventory.MaxTitleLen)},
			"price":     {doc: "Unit price in the deployment's currency; sales already made keep their price"},
			"available": {doc: "Offered for sale"},
			"minStock":  {doc: "Restock threshold of the book's stock level", min: f(0), max: f(inventory.MaxUnits)},
		},
		"NewMovement": {
			"":         {doc: "A manual stock movement. On hand may not fall below zero or below what is reserved (409)."},
			"quantity": {doc: "Signed change of on-hand units", min: f(-inventory.MaxUnits), max: f(inventory.MaxUnits)},
			"reason":   {doc: "Why, for the ledger", maxLen: n(inventory.MaxReasonLen)},
		},
	}
	for name, props := range docs {
		s := r.Map()[name]
		if s == nil {
			continue
		}
		for field, p := range props {
			t := s
			if field != "" {
				if t = s.Properties[field]; t == nil {
					panic("describeSchemas: no field " + name + "." + field)
				}
			}
			if p.doc != "" {
				t.Description = p.doc
			}
			if p.min != nil {
				t.Minimum, t.Maximum = p.min, p.max
			}
			if p.maxLen != nil {
				t.MaxLength = p.maxLen
			}
			if p.minItem != nil {
				t.MinItems, t.MaxItems = p.minItem, p.maxI
			}
			t.PrecomputeMessages()
		}
		s.PrecomputeMessages()
	}
	for _, s := range r.Map() {
		nullInEnum(s)
	}
}

// nullInEnum adds null to the enum of s and of the schemas within it when
// they are nullable. Huma writes a *string field with an enum tag as
// {"type":["string","null"],"enum":[...]}, but JSON Schema 2020-12 checks
// null against the enum like any other value, so that schema refuses null
// (Sale.paymentMethod of a pending sale).
func nullInEnum(s *huma.Schema) {
	if s == nil {
		return
	}
	if s.Nullable && len(s.Enum) > 0 && !slices.Contains(s.Enum, nil) {
		s.Enum = append(s.Enum, nil)
		s.PrecomputeMessages()
	}
	for _, p := range s.Properties {
		nullInEnum(p)
	}
	nullInEnum(s.Items)
	if ap, ok := s.AdditionalProperties.(*huma.Schema); ok {
		nullInEnum(ap)
	}
	for _, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
		nullInEnum(sub)
	}
	nullInEnum(s.Not)
}

// parseDate reads a startDate or endDate query parameter: a calendar day
// YYYY-MM-DD in loc, or an RFC 3339 time. dateOnly reports the first form.
func parseDate(field, v string, loc *time.Location) (t time.Time, dateOnly bool, err error) {
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, &sales.InvalidError{Field: field, Reason: "must be a date YYYY-MM-DD or an RFC 3339 time"}
}

// dateRange turns the startDate and endDate of a list into [from, to):
// whole days in loc, both inclusive, or the exact times given.
func dateRange(start, end string, loc *time.Location) (from, to time.Time, err error) {
	if start != "" {
		if from, _, err = parseDate("startDate", start, loc); err != nil {
			return
		}
	}
	if end != "" {
		var dateOnly bool
		if to, dateOnly, err = parseDate("endDate", end, loc); err != nil {
			return
		}
		if dateOnly {
			to = to.AddDate(0, 0, 1)
		} else {
			to = to.Truncate(time.Microsecond).Add(time.Microsecond) // inclusive, at the stores' resolution
		}
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		err = &sales.InvalidError{Field: "endDate", Reason: "must not be before startDate"}
	}
	return
}

// summaryDay returns the calendar day of a summary bound in loc.
func summaryDay(field, v string, loc *time.Location) (time.Time, error) {
	t, _, err := parseDate(field, v, loc)
	if err != nil {
		return time.Time{}, err
	}
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc), nil
}
