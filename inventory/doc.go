// Package inventory keeps the catalog (Book) and its stock: on-hand,
// reserved and available units per book (Level) and an append-only ledger
// of movements (Movement) that explains every change of on-hand stock.
//
// Stock is never overwritten: restocks and corrections are PURCHASE,
// ADJUSTMENT, DAMAGE and LOSS movements recorded with Service.Record, and
// sales leave SALE and RETURN movements. On-hand stock never falls below
// zero or below what is reserved (ErrInsufficientStock). Reservations are
// made by the sales package when a sale is created.
package inventory
