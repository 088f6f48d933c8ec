// Package memory is the embedded default store: the same interfaces and the
// same observable behaviour as storage/postgres (atomic reservations,
// constraint errors, all-or-nothing transactions), kept in process memory
// with no server. Nothing survives the process.
//
// Transactions are serialized: InTx holds the store's lock while its
// function runs, and undoes its writes when the function fails. A Store is
// safe for concurrent use.
package memory
