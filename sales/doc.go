// Package sales creates sales and moves them through their statuses.
//
// A sale is created with its lines: the service prices it (Price: line
// discounts, a sale discount split over lines by largest remainder, tax
// rounded half up once) and, in one transaction, reserves the stock of every
// book it names (all or nothing), stores the sale as PENDING and writes its
// sale.created event to the outbox. Complete (with a payment method) and
// Cancel change the status and write their events the same way; cancelling
// a PENDING sale releases its reservation in that transaction. The moves
// allowed are PENDING→COMPLETED, PENDING→CANCELLED and COMPLETED→CANCELLED
// (a return); anything else is ErrIllegalTransition.
//
// Money is int64 minor units (Money) of one Currency per deployment; client
// input arrives as a Decimal, which decodes from a JSON string ("10.50") or
// number (10) and never passes through float64.
//
// The package imports no adapter: a Service runs on any Store, such as
// storage/postgres or the embedded storage/memory, and testkit.RunStoreTests
// checks a Store against this package's contract.
package sales
