package main

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// A client generated from GET /openapi.json must be able to read every
// answer the server sends. TestResponsesMatchOpenAPI drives a sale's whole
// lifecycle, the catalog, the stock ledger and analytics through the HTTP
// API and validates each JSON answer, success or problem, against the schema
// the served document declares for its route, status and content type.
//
// The schemas are read back from the served JSON, not taken from the
// server's registry: the bytes are what clients see, and the in-memory
// huma.Schema can say more than its JSON does (Huma's validator lets null
// through a nullable schema before it reads the enum, while JSON Schema
// 2020-12 checks null against the enum like any other value).

func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		runResponsesMatchOpenAPI(t, newTarget(t, nil, nil))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := testkitURL(t)
		runResponsesMatchOpenAPI(t, newTarget(t, func(o *Options) { o.DatabaseURL = url }, nil))
	})
}

// TestResponseFieldsInOpenAPI checks the response types field by field, so a
// field that could be null or absent is documented so before any request
// happens to send it that way: a pointer without omitempty is nullable, any
// other field is not; a field without omitempty is required.
func TestResponseFieldsInOpenAPI(t *testing.T) {
	t.Parallel()
	b, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Type any    `json:"type"`
					Ref  string `json:"$ref"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{
		Sale{}, SaleLine{}, SalePage{}, PageMeta{}, Book{}, BookPage{}, StockLevel{}, StockLevelPage{},
		Movement{}, MovementPage{}, BookStats{}, BookStatsPage{}, Summary{}, DaySales{}, BookSales{}, Health{},
	} {
		typ := reflect.TypeOf(v)
		s, ok := doc.Components.Schemas[typ.Name()]
		if !ok {
			t.Errorf("%s: not in the document", typ.Name())
			continue
		}
		for f := range typ.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			p, ok := s.Properties[name]
			if !ok {
				t.Errorf("%s.%s: not in the document", typ.Name(), name)
				continue
			}
			omitted := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
			if got := slices.Contains(s.Required, name); got == omitted {
				t.Errorf("%s.%s: required %t, want %t", typ.Name(), name, got, !omitted)
			}
			types, _ := p.Type.([]any)
			gotNull := slices.Contains(types, any("null"))
			wantNull := f.Type.Kind() == reflect.Pointer && !omitted
			if gotNull != wantNull {
				t.Errorf("%s.%s: type %v, nullable %t; want nullable %t (a %s)", typ.Name(), name, p.Type, gotNull, wantNull, f.Type)
			}
		}
	}
}

func runResponsesMatchOpenAPI(t *testing.T, tg *target) {
	c := newSpecClient(t, tg)
	const unknown = "0190a5c8-6f1e-7b3a-9c2d-4e5f60718293"
	today := time.Now().UTC().Format(time.DateOnly)
	item := func(book string, n int) string {
		return fmt.Sprintf(`{"items":[{"bookId":%q,"quantity":%d}]}`, book, n)
	}

	c.want(t, http.StatusOK, "GET", "/healthz", "", nil)
	c.want(t, http.StatusOK, "GET", "/readyz", "", nil)

	// The catalog.
	r := c.want(t, http.StatusCreated, "POST", "/books", tg.admin, `{"title":"Dune","author":"Frank Herbert","price":"10.00","stock":10,"minStock":2}`)
	book := r.obj(t)["id"].(string)
	r = c.want(t, http.StatusCreated, "POST", "/books", tg.admin, `{"title":"Unsold","author":"Nobody","price":"5.00"}`)
	idle := r.obj(t)["id"].(string)
	c.want(t, http.StatusUnprocessableEntity, "POST", "/books", tg.admin, `{"title":"T","author":"A","price":"-1.00"}`)
	c.want(t, http.StatusBadRequest, "POST", "/books", tg.admin, `{"title":`)
	c.want(t, http.StatusUnsupportedMediaType, "POST", "/books", tg.admin, `{"title":"T","author":"A","price":"1.00"}`, "Content-Encoding", "gzip")
	c.want(t, http.StatusForbidden, "POST", "/books", tg.user, `{"title":"T","author":"A","price":"1.00"}`)
	c.want(t, http.StatusUnauthorized, "POST", "/books", "", `{"title":"T","author":"A","price":"1.00"}`)
	c.want(t, http.StatusOK, "GET", "/books/"+book, tg.user, nil)
	c.want(t, http.StatusNotFound, "GET", "/books/"+unknown, tg.user, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/books/nope", tg.user, nil)
	c.want(t, http.StatusOK, "GET", "/books?limit=100", tg.user, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/books?limit=101", tg.user, nil)
	c.want(t, http.StatusOK, "PATCH", "/books/"+idle, tg.admin, `{"price":"6.50","available":false}`)
	c.want(t, http.StatusOK, "PATCH", "/books/"+idle, tg.admin, `{"available":true}`)
	c.want(t, http.StatusUnprocessableEntity, "PATCH", "/books/"+idle, tg.admin, `{"price":"-1"}`)
	c.want(t, http.StatusNotFound, "PATCH", "/books/"+unknown, tg.admin, `{"price":"6.50"}`)

	// Stock levels and manual movements, whose saleId is null.
	c.want(t, http.StatusOK, "GET", "/inventory?limit=100", tg.user, nil)
	c.want(t, http.StatusOK, "GET", "/inventory/"+book, tg.user, nil)
	c.want(t, http.StatusNotFound, "GET", "/inventory/"+unknown, tg.user, nil)
	moves := "/inventory/" + book + "/movements"
	for _, m := range []string{
		`{"type":"PURCHASE","quantity":5,"reason":"restock"}`, `{"type":"ADJUSTMENT","quantity":-1}`,
		`{"type":"DAMAGE","quantity":-1,"reason":"torn"}`, `{"type":"LOSS","quantity":-1}`,
	} {
		c.want(t, http.StatusCreated, "POST", moves, tg.admin, m)
	}
	c.want(t, http.StatusConflict, "POST", moves, tg.admin, `{"type":"LOSS","quantity":-1000}`)
	c.want(t, http.StatusUnprocessableEntity, "POST", moves, tg.admin, `{"type":"SALE","quantity":-1}`)
	c.want(t, http.StatusUnprocessableEntity, "POST", moves, tg.admin, `{"type":"PURCHASE","quantity":-1}`)
	c.want(t, http.StatusNotFound, "POST", "/inventory/"+unknown+"/movements", tg.admin, `{"type":"PURCHASE","quantity":1}`)
	c.want(t, http.StatusForbidden, "POST", moves, tg.user, `{"type":"PURCHASE","quantity":1}`)
	c.want(t, http.StatusOK, "GET", "/stock-movements?limit=100&bookId="+book, tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/stock-movements?type=PURCHASE", tg.admin, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/stock-movements?type=GIFT", tg.admin, nil)
	c.want(t, http.StatusForbidden, "GET", "/stock-movements", tg.user, nil)

	// A sale, pending: no payment, nothing cancelled.
	r = c.want(t, http.StatusCreated, "POST", "/sales", tg.user,
		fmt.Sprintf(`{"customerName":"Ana","items":[{"bookId":%q,"quantity":2,"discount":"1.00"}],"notes":"gift"}`, book),
		"Idempotency-Key", "spec-1")
	sale := r.obj(t)["id"].(string)
	c.want(t, http.StatusCreated, "POST", "/sales", tg.user, // replayed
		fmt.Sprintf(`{"customerName":"Ana","items":[{"bookId":%q,"quantity":2,"discount":"1.00"}],"notes":"gift"}`, book),
		"Idempotency-Key", "spec-1")
	c.want(t, http.StatusUnprocessableEntity, "POST", "/sales", tg.user, item(book, 1), "Idempotency-Key", "spec-1")
	c.want(t, http.StatusOK, "GET", "/sales/"+sale, tg.user, nil)
	c.want(t, http.StatusNotFound, "GET", "/sales/"+sale, tg.user2, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/sales/nope", tg.user, nil)
	c.want(t, http.StatusConflict, "POST", "/sales", tg.user, item(book, 1000))
	c.want(t, http.StatusUnprocessableEntity, "POST", "/sales", tg.user, item(unknown, 1))
	c.want(t, http.StatusUnprocessableEntity, "POST", "/sales", tg.user, `{"items":[]}`)
	c.want(t, http.StatusBadRequest, "POST", "/sales", tg.user, `{"items":`)
	c.want(t, http.StatusRequestEntityTooLarge, "POST", "/sales", tg.user, `{"notes":"`+strings.Repeat("x", MaxBodyBytes)+`","items":[]}`)
	c.want(t, http.StatusUnauthorized, "POST", "/sales", "", item(book, 1))
	c.want(t, http.StatusUnauthorized, "GET", "/sales", "not-a-jwt", nil)

	// Completed, then returned.
	status := "/sales/" + sale + "/status"
	c.want(t, http.StatusForbidden, "PATCH", status, tg.user, `{"status":"COMPLETED","paymentMethod":"CASH"}`)
	c.want(t, http.StatusUnprocessableEntity, "PATCH", status, tg.admin, `{"status":"COMPLETED"}`)
	c.want(t, http.StatusUnprocessableEntity, "PATCH", status, tg.admin, `{"status":"COMPLETED","paymentMethod":"BITCOIN"}`)
	c.want(t, http.StatusOK, "PATCH", status, tg.admin, `{"status":"COMPLETED","paymentMethod":"CREDIT_CARD","paymentReference":"ch_1"}`)
	c.want(t, http.StatusOK, "GET", "/sales/"+sale, tg.user, nil)
	c.want(t, http.StatusConflict, "PATCH", status, tg.admin, `{"status":"COMPLETED","paymentMethod":"CASH"}`)
	c.want(t, http.StatusConflict, "PATCH", status, tg.admin, `{"status":"PENDING"}`)
	c.want(t, http.StatusNotFound, "PATCH", "/sales/"+unknown+"/status", tg.admin, `{"status":"CANCELLED"}`)
	c.want(t, http.StatusOK, "GET", "/sales/summary?startDate="+today+"&endDate="+today, tg.admin, nil)
	if tg.worker {
		// The SALE movement carries the sale's id; the book has statistics.
		eventually(t, "the worker to apply the completion", func() bool {
			var p MovementPage
			r := c.req(t, "GET", "/stock-movements?type=SALE&saleId="+sale, tg.admin, nil)
			return r.status == http.StatusOK && json.Unmarshal(r.body, &p) == nil && p.Meta.Total == 1
		})
		c.want(t, http.StatusOK, "GET", "/analytics/books/"+book, tg.admin, nil)
	}
	c.want(t, http.StatusOK, "PATCH", status, tg.admin, `{"status":"CANCELLED","reason":"returned"}`)
	c.want(t, http.StatusOK, "GET", "/sales/"+sale, tg.admin, nil)

	// Another sale, cancelled while pending: never paid.
	r = c.want(t, http.StatusCreated, "POST", "/sales", tg.user, item(book, 3))
	second := r.obj(t)["id"].(string)
	c.want(t, http.StatusOK, "PATCH", "/sales/"+second+"/status", tg.admin, `{"status":"CANCELLED"}`)
	c.want(t, http.StatusOK, "GET", "/sales/"+second, tg.user, nil)
	// And one left pending, for the lists.
	c.want(t, http.StatusCreated, "POST", "/sales", tg.user2, item(book, 1))

	c.want(t, http.StatusOK, "GET", "/sales?limit=100", tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/sales?status=CANCELLED&startDate="+today+"&endDate="+today, tg.user, nil)
	c.want(t, http.StatusOK, "GET", "/sales?sellerId=someone-else", tg.user, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/sales?startDate=2025-13-01", tg.admin, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/sales?page=0", tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/sales/summary?startDate="+today+"&endDate="+today, tg.admin, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/sales/summary", tg.admin, nil)
	c.want(t, http.StatusForbidden, "GET", "/sales/summary?startDate="+today+"&endDate="+today, tg.user, nil)

	// The ledger and analytics after the lifecycle.
	if tg.worker {
		eventually(t, "the worker to apply the return", func() bool {
			var p MovementPage
			r := c.req(t, "GET", "/stock-movements?type=RETURN&saleId="+sale, tg.admin, nil)
			return r.status == http.StatusOK && json.Unmarshal(r.body, &p) == nil && p.Meta.Total == 1
		})
	}
	c.want(t, http.StatusOK, "GET", "/stock-movements?limit=100", tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/inventory/"+book, tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/analytics/books?limit=100", tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/analytics/books/"+book, tg.admin, nil)
	c.want(t, http.StatusOK, "GET", "/analytics/books/"+idle, tg.admin, nil) // no sales: no first or last sale
	c.want(t, http.StatusNotFound, "GET", "/analytics/books/"+unknown, tg.admin, nil)
	c.want(t, http.StatusUnprocessableEntity, "GET", "/analytics/books?page=0", tg.admin, nil)
	c.want(t, http.StatusForbidden, "GET", "/analytics/books", tg.user, nil)
}

// specClient sends requests to a target and checks each answer against the
// target's own OpenAPI document.
type specClient struct {
	tg       *target
	reg      huma.Registry
	routes   map[string]map[string]map[string]map[string]*huma.Schema // path → method → status → media type → schema
	reported map[string]bool                                          // violations already reported, by route, status and error
}

// newSpecClient reads the target's OpenAPI document.
func newSpecClient(t *testing.T, tg *target) *specClient {
	t.Helper()
	r := tg.req(t, "GET", "/openapi.json", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /openapi.json: %s", r)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	r.decode(t, &doc)
	const prefix = "#/components/schemas/"
	c := &specClient{
		tg: tg, reg: huma.NewMapRegistry(prefix, huma.DefaultSchemaNamer),
		routes: map[string]map[string]map[string]map[string]*huma.Schema{}, reported: map[string]bool{},
	}
	for name, s := range doc.Components.Schemas {
		c.reg.Map()[name] = wireSchema(t, prefix+name, s)
	}
	for path, ops := range doc.Paths {
		c.routes[path] = map[string]map[string]map[string]*huma.Schema{}
		for method, op := range ops {
			statuses := map[string]map[string]*huma.Schema{}
			for status, res := range op.Responses {
				statuses[status] = map[string]*huma.Schema{}
				for mt, content := range res.Content {
					statuses[status][mt] = wireSchema(t, fmt.Sprintf("%s %s %s %s", method, path, status, mt), content.Schema)
				}
			}
			c.routes[path][strings.ToUpper(method)] = statuses
		}
	}
	return c
}

// wireSchema turns a schema of the JSON document into one huma.Validate
// checks with the document's meaning. It fails t on a keyword it does not
// know, so that no constraint of the document goes unchecked.
func wireSchema(t testing.TB, where string, v any) *huma.Schema {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: schema %v is not an object", where, v)
	}
	s := &huma.Schema{}
	num := func(x any) *float64 { f := x.(float64); return &f }
	count := func(x any) *int { n := int(x.(float64)); return &n }
	list := func(k string, x any) []*huma.Schema {
		var subs []*huma.Schema
		for i, sub := range x.([]any) {
			subs = append(subs, wireSchema(t, fmt.Sprintf("%s.%s[%d]", where, k, i), sub))
		}
		return subs
	}
	for k, x := range m {
		switch k {
		case "title", "description", "examples", "default", "deprecated", "contentMediaType":
			// annotations
		case "type":
			types, ok := x.([]any)
			if !ok {
				types = []any{x}
			}
			for _, typ := range types {
				switch {
				case typ == "null":
					s.Nullable = true
				case s.Type != "":
					t.Fatalf("%s: more than one type besides null: %v", where, x)
				default:
					s.Type = typ.(string)
				}
			}
		case "$ref":
			s.Ref = x.(string)
		case "format":
			s.Format = x.(string)
		case "contentEncoding":
			s.ContentEncoding = x.(string)
		case "enum":
			s.Enum = x.([]any)
		case "pattern":
			s.Pattern = x.(string)
		case "minimum":
			s.Minimum = num(x)
		case "maximum":
			s.Maximum = num(x)
		case "exclusiveMinimum":
			s.ExclusiveMinimum = num(x)
		case "exclusiveMaximum":
			s.ExclusiveMaximum = num(x)
		case "multipleOf":
			s.MultipleOf = num(x)
		case "minLength":
			s.MinLength = count(x)
		case "maxLength":
			s.MaxLength = count(x)
		case "minItems":
			s.MinItems = count(x)
		case "maxItems":
			s.MaxItems = count(x)
		case "minProperties":
			s.MinProperties = count(x)
		case "maxProperties":
			s.MaxProperties = count(x)
		case "uniqueItems":
			s.UniqueItems = x.(bool)
		case "readOnly":
			s.ReadOnly = x.(bool)
		case "writeOnly":
			s.WriteOnly = x.(bool)
		case "required":
			for _, name := range x.([]any) {
				s.Required = append(s.Required, name.(string))
			}
		case "items":
			s.Items = wireSchema(t, where+".items", x)
		case "properties":
			s.Properties = map[string]*huma.Schema{}
			for name, p := range x.(map[string]any) {
				s.Properties[name] = wireSchema(t, where+"."+name, p)
			}
		case "additionalProperties":
			if b, ok := x.(bool); ok {
				s.AdditionalProperties = b
			} else {
				s.AdditionalProperties = wireSchema(t, where+".additionalProperties", x)
			}
		case "anyOf":
			s.AnyOf = list(k, x)
		case "oneOf":
			s.OneOf = list(k, x)
		case "allOf":
			s.AllOf = list(k, x)
		default:
			t.Fatalf("%s: keyword %q is not checked by this test", where, k)
		}
	}
	if s.Nullable && len(s.Enum) > 0 {
		// huma.Validate accepts null for a nullable schema before it reads
		// the enum; in JSON Schema the enum must list null too.
		s.AllOf = append(s.AllOf, &huma.Schema{Enum: s.Enum})
		s.Enum = nil
	}
	s.PrecomputeMessages()
	return s
}

// route returns the path of the document that path matches, the one with the
// most literal segments when several do (/sales/summary before /sales/{id}).
func (c *specClient) route(path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	best, bestLit := "", -1
	for tmpl := range c.routes {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		lit := 0
		for i, seg := range ts {
			switch {
			case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			case seg == segs[i]:
				lit++
			default:
				lit = -1
			}
			if lit < 0 {
				break
			}
		}
		if lit > bestLit {
			best, bestLit = tmpl, lit
		}
	}
	return best
}

// violations returns how r breaks the document's answer for method and path.
func (c *specClient) violations(method, path string, r *response) []string {
	route := c.route(path)
	if route == "" {
		return []string{"no such path in the document"}
	}
	statuses, ok := c.routes[route][method]
	if !ok {
		return []string{"no such operation in the document"}
	}
	contents, ok := statuses[strconv.Itoa(r.status)]
	if !ok {
		if contents, ok = statuses["default"]; !ok {
			return []string{fmt.Sprintf("status %d is not documented", r.status)}
		}
	}
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		return []string{fmt.Sprintf("content type %q: %v", r.header.Get("Content-Type"), err)}
	}
	s, ok := contents[mt]
	if !ok {
		return []string{fmt.Sprintf("content type %s is not documented for status %d", mt, r.status)}
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		return []string{fmt.Sprintf("body is not JSON: %v", err)}
	}
	res := &huma.ValidateResult{}
	huma.Validate(c.reg, s, huma.NewPathBuffer([]byte{}, 0), huma.ModeReadFromServer, v, res)
	var out []string
	for _, err := range res.Errors {
		out = append(out, err.Error())
	}
	return out
}

// arrayIndex matches the indexes in the location of a violation, so that one
// violation in every element of a list is reported once.
var arrayIndex = regexp.MustCompile(`\[\d+\]`)

// req sends a request (see target.req) and reports each way the answer
// breaks the document once per route and status.
func (c *specClient) req(t *testing.T, method, path, token string, body any, hdr ...string) *response {
	t.Helper()
	r := c.tg.req(t, method, path, token, body, hdr...)
	route := c.route(path)
	for _, v := range c.violations(method, path, r) {
		key := fmt.Sprintf("%s %s %d: %s", method, route, r.status, arrayIndex.ReplaceAllString(v, "[]"))
		if c.reported[key] {
			continue
		}
		c.reported[key] = true
		t.Errorf("%s %s → %d breaks the OpenAPI document: %s\n\tbody: %.600s", method, path, r.status, v, r.body)
	}
	return r
}

// want is req that also checks the status (see want).
func (c *specClient) want(t *testing.T, status int, method, path, token string, body any, hdr ...string) *response {
	t.Helper()
	r := c.req(t, method, path, token, body, hdr...)
	want(t, r, status, method+" "+path)
	return r
}
