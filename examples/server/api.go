package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/inventory"
	"github.com/salesflow/salesflow/sales"
)

// apiVersion is the version of the HTTP API in its OpenAPI document.
const apiVersion = "1.0.0"

// server is the HTTP API over the services: Huma operations on a
// net/http ServeMux, wrapped in the request-id, access-log, metrics,
// recovery and body-limit middlewares. Handlers return domain errors as
// they are; problemFor maps them.
type server struct {
	api     huma.API
	handler http.Handler

	sales   *sales.Service
	inv     *inventory.Service
	auth    *Auth
	stats   analytics.Store
	loc     *time.Location
	log     *slog.Logger
	metrics *metrics                                   // nil: no /metrics
	ready   func(ctx context.Context) map[string]error // nil: always ready
	opsOnly bool                                       // only /healthz, /readyz and /metrics (the worker process)
}

// Field names are matched as the OpenAPI document spells them: Huma
// otherwise follows encoding/json, which would take {"Items": ...} for
// "items" although the schemas allow no other property.
func init() { huma.ValidateStrictCasing = true }

// newServer registers the routes on a new mux. s's service fields may be
// nil when only the OpenAPI document is wanted.
func newServer(s *server) *server {
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("salesflow", apiVersion)
	cfg.CreateHooks = nil // no $schema links added to response bodies
	cfg.Info.Description = "The reference HTTP API of salesflow: sales with stock reserved at creation, " +
		"a catalog and its stock ledger, and analytics kept by the sale-event worker. " +
		"Errors are RFC 9457 problem documents; money is a decimal string in the deployment's currency."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "A JWT with claims sub (the caller), role (admin or user) and exp."},
	}
	registerAliases(cfg.Components.Schemas)
	s.api = humago.New(mux, cfg)
	s.routes()
	describeSchemas(s.api.OpenAPI().Components.Schemas)
	if s.metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	}
	mux.Handle("GET /{$}", http.RedirectHandler("/docs", http.StatusFound))
	s.handler = s.observe(recoverer(limitBody(routed(mux))))
	return s
}

// ServeHTTP serves the API.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

var (
	anyone    []Role
	allRoles  = []Role{RoleAdmin, RoleUser}
	adminOnly = []Role{RoleAdmin}
)

// op describes an operation: roles empty means no token needed.
func (s *server) op(id, method, path, tag, summary string, status int, roles []Role, errs ...int) huma.Operation {
	op := huma.Operation{
		OperationID: id, Method: method, Path: path, Tags: []string{tag}, Summary: summary,
		DefaultStatus: status, MaxBodyBytes: MaxBodyBytes + 1, Errors: errs,
	}
	switch len(roles) {
	case 0:
		return op
	case 1:
		op.Description = "Role: " + string(roles[0]) + "."
		op.Errors = append([]int{http.StatusUnauthorized, http.StatusForbidden}, op.Errors...)
	default:
		op.Description = "Roles: admin and user."
		op.Errors = append([]int{http.StatusUnauthorized}, op.Errors...)
	}
	// Every authenticated operation reads or writes the database, which
	// can be unavailable for a moment: a 503 with Retry-After.
	op.Errors = append(op.Errors, http.StatusServiceUnavailable)
	op.Security = []map[string][]string{{"bearer": {}}}
	op.Middlewares = huma.Middlewares{s.authorize(roles...), s.strictBody}
	return op
}

func (s *server) routes() {
	api := s.api
	const (
		sTag = "Sales"
		bTag = "Books"
		iTag = "Inventory"
		aTag = "Analytics"
		oTag = "Operations"
	)
	huma.Register(api, s.op("healthz", http.MethodGet, "/healthz", oTag, "Liveness", http.StatusOK, anyone), s.healthz)
	huma.Register(api, s.op("readyz", http.MethodGet, "/readyz", oTag, "Readiness: the database and the broker answer",
		http.StatusOK, anyone, http.StatusServiceUnavailable), s.readyz)
	if s.opsOnly {
		return
	}
	body := []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}

	op := s.op("createSale", http.MethodPost, "/sales", sTag, "Create a sale and reserve its stock", http.StatusCreated,
		allRoles, append(body, http.StatusConflict, http.StatusUnprocessableEntity)...)
	op.Description += " The seller is the token's subject. Retries with the same Idempotency-Key and body replay the first answer."
	op.Middlewares = append(op.Middlewares, s.idempotent)
	huma.Register(api, op, s.createSale)

	op = s.op("listSales", http.MethodGet, "/sales", sTag, "List sales, newest first", http.StatusOK, allRoles)
	op.Description += " Users see their own sales only."
	huma.Register(api, op, s.listSales)

	huma.Register(api, s.op("salesSummary", http.MethodGet, "/sales/summary", sTag,
		"Summarize the sales completed between two days", http.StatusOK, adminOnly), s.summary)

	op = s.op("getSale", http.MethodGet, "/sales/{id}", sTag, "Get a sale", http.StatusOK, allRoles, http.StatusNotFound)
	op.Description += " A user gets 404 for another seller's sale."
	huma.Register(api, op, s.getSale)

	op = s.op("updateSaleStatus", http.MethodPatch, "/sales/{id}/status", sTag, "Complete or cancel a sale", http.StatusOK,
		adminOnly, append(body, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)...)
	op.Description += " PENDING→COMPLETED (with paymentMethod), PENDING→CANCELLED, COMPLETED→CANCELLED (a return); " +
		"anything else is 409. Retries with the same Idempotency-Key and body replay the first answer."
	op.Middlewares = append(op.Middlewares, s.idempotent)
	huma.Register(api, op, s.updateSaleStatus)

	huma.Register(api, s.op("createBook", http.MethodPost, "/books", bTag, "Add a book, with optional initial stock",
		http.StatusCreated, adminOnly, append(body, http.StatusUnprocessableEntity)...), s.createBook)
	huma.Register(api, s.op("listBooks", http.MethodGet, "/books", bTag, "List the catalog by title", http.StatusOK, allRoles), s.listBooks)
	huma.Register(api, s.op("getBook", http.MethodGet, "/books/{id}", bTag, "Get a book", http.StatusOK, allRoles, http.StatusNotFound), s.getBook)
	huma.Register(api, s.op("updateBook", http.MethodPatch, "/books/{id}", bTag, "Change a book", http.StatusOK,
		adminOnly, append(body, http.StatusNotFound, http.StatusUnprocessableEntity)...), s.updateBook)

	huma.Register(api, s.op("listStock", http.MethodGet, "/inventory", iTag, "List stock levels", http.StatusOK, allRoles), s.listStock)
	huma.Register(api, s.op("getStock", http.MethodGet, "/inventory/{bookId}", iTag, "Get a book's stock level",
		http.StatusOK, allRoles, http.StatusNotFound), s.getStock)
	huma.Register(api, s.op("recordMovement", http.MethodPost, "/inventory/{bookId}/movements", iTag,
		"Record a manual stock movement", http.StatusCreated, adminOnly,
		append(body, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)...), s.recordMovement)
	huma.Register(api, s.op("listMovements", http.MethodGet, "/stock-movements", iTag, "List stock movements, oldest first",
		http.StatusOK, adminOnly), s.listMovements)

	huma.Register(api, s.op("listBookStats", http.MethodGet, "/analytics/books", aTag, "List book statistics",
		http.StatusOK, adminOnly), s.listBookStats)
	huma.Register(api, s.op("getBookStats", http.MethodGet, "/analytics/books/{bookId}", aTag, "Get a book's statistics",
		http.StatusOK, adminOnly, http.StatusNotFound), s.getBookStats)
}

// --- inputs and outputs ----------------------------------------------------

// Paging selects one page of a list.
type Paging struct {
	Page  int `query:"page" minimum:"1" maximum:"1000000" default:"1" doc:"Page number, from 1"`
	Limit int `query:"limit" minimum:"1" maximum:"100" default:"10" doc:"Page size"`
}

// IdempotencyHeader is the Idempotency-Key request header.
type IdempotencyHeader struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: the first answer is stored for 24 h and replayed for the same key and body; another body with the key is 422; a key whose first request is still running is 409"`
}

// SaleIDPath is the id of a sale in a path.
type SaleIDPath struct {
	ID string `path:"id" format:"uuid" doc:"Sale id"`
}

// BookIDPath is the id of a book in a path.
type BookIDPath struct {
	ID string `path:"id" format:"uuid" doc:"Book id"`
}

// BookIDParam is the id of a book in an /inventory or /analytics path.
type BookIDParam struct {
	BookID string `path:"bookId" format:"uuid" doc:"Book id"`
}

type saleOutput struct{ Body Sale }

type createSaleInput struct {
	IdempotencyHeader
	Body sales.NewSale
}

type listSalesInput struct {
	Status    string `query:"status" enum:"PENDING,COMPLETED,CANCELLED" doc:"Only sales in this status"`
	SellerID  string `query:"sellerId" maxLength:"200" doc:"Only this seller's sales (a user's list is always their own)"`
	StartDate string `query:"startDate" maxLength:"64" doc:"Created on or after this day (YYYY-MM-DD in the server's time zone) or time (RFC 3339)"`
	EndDate   string `query:"endDate" maxLength:"64" doc:"Created on or before this day (YYYY-MM-DD, inclusive) or time (RFC 3339)"`
	Paging
}

type salePageOutput struct{ Body SalePage }

type summaryInput struct {
	StartDate string `query:"startDate" required:"true" maxLength:"64" doc:"First day, YYYY-MM-DD in the server's time zone (or an RFC 3339 time, whose day counts)"`
	EndDate   string `query:"endDate" required:"true" maxLength:"64" doc:"Last day, inclusive"`
}

type summaryOutput struct{ Body Summary }

type getSaleInput struct{ SaleIDPath }

// StatusChange moves a sale to another status.
type StatusChange struct {
	Status           string `json:"status" enum:"PENDING,COMPLETED,CANCELLED" doc:"The new status"`
	PaymentMethod    string `json:"paymentMethod,omitempty" enum:"CASH,CREDIT_CARD,DEBIT_CARD,TRANSFER,OTHER" doc:"Required to complete"`
	PaymentReference string `json:"paymentReference,omitempty" maxLength:"200" doc:"Optional, when completing"`
	Reason           string `json:"reason,omitempty" maxLength:"2000" doc:"Optional, when cancelling"`
}

// Resolve refuses the fields that do not belong to the target status,
// which would otherwise be dropped without a word: a reason when
// completing, a payment when cancelling.
func (c *StatusChange) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	if c.Status != string(sales.StatusCompleted) && c.Status != string(sales.StatusCancelled) {
		return nil // no sale moves to PENDING: 409 whatever else it says (DESIGN §7)
	}
	var errs []error
	refuse := func(field, value, when string) {
		if value != "" {
			errs = append(errs, &huma.ErrorDetail{Location: prefix.With(field), Value: value,
				Message: "applies only to " + when + ", not to status " + c.Status})
		}
	}
	if c.Status != string(sales.StatusCompleted) {
		refuse("paymentMethod", c.PaymentMethod, "status COMPLETED")
		refuse("paymentReference", c.PaymentReference, "status COMPLETED")
	}
	if c.Status != string(sales.StatusCancelled) {
		refuse("reason", c.Reason, "status CANCELLED")
	}
	return errs
}

type updateStatusInput struct {
	SaleIDPath
	IdempotencyHeader
	Body StatusChange
}

type bookOutput struct{ Body Book }

type createBookInput struct{ Body inventory.NewBook }

type pageInput struct{ Paging }

type bookPageOutput struct{ Body BookPage }

type getBookInput struct{ BookIDPath }

type updateBookInput struct {
	BookIDPath
	Body inventory.BookPatch
}

type stockOutput struct{ Body StockLevel }

type stockPageOutput struct{ Body StockLevelPage }

type getStockInput struct{ BookIDParam }

type movementInput struct {
	BookIDParam
	Body inventory.NewMovement
}

type movementOutput struct{ Body Movement }

type listMovementsInput struct {
	BookID string `query:"bookId" format:"uuid" doc:"Only this book's movements"`
	Type   string `query:"type" enum:"PURCHASE,SALE,RETURN,ADJUSTMENT,DAMAGE,LOSS" doc:"Only movements of this type"`
	SaleID string `query:"saleId" format:"uuid" doc:"Only this sale's movements"`
	Paging
}

type movementPageOutput struct{ Body MovementPage }

type statsOutput struct{ Body BookStats }

type statsPageOutput struct{ Body BookStatsPage }

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string            `json:"status" example:"ok"`
	Checks map[string]string `json:"checks,omitempty" doc:"Each dependency and its state"`
}

type healthOutput struct{ Body Health }

// parseID reads an id that Huma has already checked to be a UUID.
func parseID(field, v string) (uuid.UUID, error) {
	id, err := uuid.Parse(v)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, &sales.InvalidError{Field: field, Reason: "must be a UUID other than the nil UUID"}
	}
	return id, nil
}

// --- sales -----------------------------------------------------------------

func (s *server) createSale(ctx context.Context, in *createSaleInput) (*saleOutput, error) {
	sale, err := s.sales.Create(ctx, principal(ctx).Subject, in.Body, remember(ctx, http.StatusCreated)...)
	if err != nil {
		return nil, err
	}
	return &saleOutput{newSale(sale)}, nil
}

func (s *server) listSales(ctx context.Context, in *listSalesInput) (*salePageOutput, error) {
	f := sales.Filter{Status: sales.Status(in.Status), SellerID: in.SellerID, Page: in.Page, Limit: in.Limit}
	var err error
	if f.From, f.To, err = dateRange(in.StartDate, in.EndDate, s.loc); err != nil {
		return nil, err
	}
	if p := principal(ctx); p.Role != RoleAdmin {
		if f.SellerID != "" && f.SellerID != p.Subject {
			return &salePageOutput{SalePage{Data: []Sale{}, Meta: newMeta(0, in.Page, in.Limit)}}, nil
		}
		f.SellerID = p.Subject
	}
	page, err := s.sales.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := SalePage{Data: make([]Sale, len(page.Sales)), Meta: PageMeta{page.Total, page.Page, page.Limit, page.TotalPages}}
	for i, sale := range page.Sales {
		out.Data[i] = newSale(sale)
	}
	return &salePageOutput{out}, nil
}

func (s *server) summary(ctx context.Context, in *summaryInput) (*summaryOutput, error) {
	start, err := summaryDay("startDate", in.StartDate, s.loc)
	if err != nil {
		return nil, err
	}
	end, err := summaryDay("endDate", in.EndDate, s.loc)
	if err != nil {
		return nil, err
	}
	sum, err := s.sales.Summary(ctx, start, end)
	if err != nil {
		return nil, err
	}
	return &summaryOutput{newSummary(sum)}, nil
}

// ownSale returns the sale if the caller may see it: an admin any sale, a
// user their own; another's sale is not found, so its existence stays hidden.
func (s *server) ownSale(ctx context.Context, id string) (*sales.Sale, error) {
	sid, err := parseID("id", id)
	if err != nil {
		return nil, err
	}
	sale, err := s.sales.Get(ctx, sid)
	if err != nil {
		return nil, err
	}
	if p := principal(ctx); p.Role != RoleAdmin && sale.SellerID != p.Subject {
		return nil, fmt.Errorf("sale %s of another seller: %w", sid, sales.ErrNotFound)
	}
	return sale, nil
}

func (s *server) getSale(ctx context.Context, in *getSaleInput) (*saleOutput, error) {
	sale, err := s.ownSale(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return &saleOutput{newSale(sale)}, nil
}

func (s *server) updateSaleStatus(ctx context.Context, in *updateStatusInput) (*saleOutput, error) {
	id, err := parseID("id", in.ID)
	if err != nil {
		return nil, err
	}
	opts := remember(ctx, http.StatusOK)
	var sale *sales.Sale
	switch sales.Status(in.Body.Status) {
	case sales.StatusCompleted:
		pay := sales.Payment{Method: sales.PaymentMethod(in.Body.PaymentMethod), Reference: in.Body.PaymentReference}
		sale, err = s.sales.Complete(ctx, id, pay, opts...)
	case sales.StatusCancelled:
		sale, err = s.sales.Cancel(ctx, id, in.Body.Reason, opts...)
	default: // PENDING: no sale may move back there
		if sale, err = s.sales.Get(ctx, id); err == nil {
			err = fmt.Errorf("sale %s from %s to %s: %w", id, sale.Status, in.Body.Status, sales.ErrIllegalTransition)
		}
	}
	if err != nil {
		return nil, err
	}
	return &saleOutput{newSale(sale)}, nil
}

// --- books and stock ---------------------------------------------------------

func (s *server) createBook(ctx context.Context, in *createBookInput) (*bookOutput, error) {
	b, err := s.inv.CreateBook(ctx, in.Body)
	if err != nil {
		return nil, err
	}
	return &bookOutput{newBook(b, s.inv.Currency())}, nil
}

func (s *server) listBooks(ctx context.Context, in *pageInput) (*bookPageOutput, error) {
	books, total, err := s.inv.Books(ctx, inventory.PageQuery{Page: in.Page, Limit: in.Limit})
	if err != nil {
		return nil, err
	}
	out := BookPage{Data: make([]Book, len(books)), Meta: newMeta(total, in.Page, in.Limit)}
	for i, b := range books {
		out.Data[i] = newBook(b, s.inv.Currency())
	}
	return &bookPageOutput{out}, nil
}

func (s *server) getBook(ctx context.Context, in *getBookInput) (*bookOutput, error) {
	id, err := parseID("id", in.ID)
	if err != nil {
		return nil, err
	}
	b, err := s.inv.Book(ctx, id)
	if err != nil {
		return nil, err
	}
	return &bookOutput{newBook(b, s.inv.Currency())}, nil
}

func (s *server) updateBook(ctx context.Context, in *updateBookInput) (*bookOutput, error) {
	id, err := parseID("id", in.ID)
	if err != nil {
		return nil, err
	}
	b, err := s.inv.UpdateBook(ctx, id, in.Body)
	if err != nil {
		return nil, err
	}
	return &bookOutput{newBook(b, s.inv.Currency())}, nil
}

func (s *server) listStock(ctx context.Context, in *pageInput) (*stockPageOutput, error) {
	levels, total, err := s.inv.Levels(ctx, inventory.PageQuery{Page: in.Page, Limit: in.Limit})
	if err != nil {
		return nil, err
	}
	out := StockLevelPage{Data: make([]StockLevel, len(levels)), Meta: newMeta(total, in.Page, in.Limit)}
	for i, l := range levels {
		out.Data[i] = newStockLevel(l)
	}
	return &stockPageOutput{out}, nil
}

func (s *server) getStock(ctx context.Context, in *getStockInput) (*stockOutput, error) {
	id, err := parseID("bookId", in.BookID)
	if err != nil {
		return nil, err
	}
	l, err := s.inv.Level(ctx, id)
	if err != nil {
		return nil, err
	}
	return &stockOutput{newStockLevel(l)}, nil
}

func (s *server) recordMovement(ctx context.Context, in *movementInput) (*movementOutput, error) {
	id, err := parseID("bookId", in.BookID)
	if err != nil {
		return nil, err
	}
	m, err := s.inv.Record(ctx, id, in.Body)
	if err != nil {
		return nil, err
	}
	return &movementOutput{newMovement(m)}, nil
}

func (s *server) listMovements(ctx context.Context, in *listMovementsInput) (*movementPageOutput, error) {
	f := inventory.MovementFilter{Type: inventory.MovementType(in.Type), PageQuery: inventory.PageQuery{Page: in.Page, Limit: in.Limit}}
	var err error
	if in.BookID != "" {
		if f.BookID, err = parseID("bookId", in.BookID); err != nil {
			return nil, err
		}
	}
	if in.SaleID != "" {
		if f.SaleID, err = parseID("saleId", in.SaleID); err != nil {
			return nil, err
		}
	}
	ms, total, err := s.inv.Movements(ctx, f)
	if err != nil {
		return nil, err
	}
	out := MovementPage{Data: make([]Movement, len(ms)), Meta: newMeta(total, in.Page, in.Limit)}
	for i, m := range ms {
		out.Data[i] = newMovement(m)
	}
	return &movementPageOutput{out}, nil
}

// --- analytics ---------------------------------------------------------------

func (s *server) listBookStats(ctx context.Context, in *pageInput) (*statsPageOutput, error) {
	stats, total, err := s.stats.AllBookStats(ctx, in.Page, in.Limit)
	if err != nil {
		return nil, err
	}
	out := BookStatsPage{Data: make([]BookStats, len(stats)), Meta: newMeta(total, in.Page, in.Limit)}
	for i, st := range stats {
		out.Data[i] = newBookStats(st, s.sales.Currency())
	}
	return &statsPageOutput{out}, nil
}

func (s *server) getBookStats(ctx context.Context, in *getStockInput) (*statsOutput, error) {
	id, err := parseID("bookId", in.BookID)
	if err != nil {
		return nil, err
	}
	if _, err := s.inv.Book(ctx, id); err != nil {
		return nil, err
	}
	st, err := s.stats.BookStats(ctx, id)
	if errors.Is(err, analytics.ErrNotFound) {
		st, err = analytics.BookStats{}, nil // a book without sales
	}
	if err != nil {
		return nil, err
	}
	st.BookID = id
	return &statsOutput{newBookStats(st, s.sales.Currency())}, nil
}

// --- operations ----------------------------------------------------------------

func (s *server) healthz(context.Context, *struct{}) (*healthOutput, error) {
	return &healthOutput{Health{Status: "ok"}}, nil
}

func (s *server) readyz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	out := Health{Status: "ok", Checks: map[string]string{}}
	if s.ready == nil {
		return &healthOutput{out}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var failed []error
	for name, err := range s.ready(ctx) {
		if err == nil {
			out.Checks[name] = "ok"
			continue
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.String("check", name), slog.Any("err", err))
		failed = append(failed, fmt.Errorf("%s: unavailable", name))
	}
	if len(failed) > 0 {
		p := newProblem(http.StatusServiceUnavailable, codeUnavailable, "not ready", failed...)
		p.RequestID, p.Instance = requestID(ctx), "/readyz"
		return nil, p
	}
	return &healthOutput{out}, nil
}
