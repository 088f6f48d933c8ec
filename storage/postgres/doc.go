// Package postgres stores salesflow's sales, inventory and outbox in
// PostgreSQL 13 or later (tested on 15), through a pgx/v5 connection pool.
//
// # Use
//
//	db, err := postgres.Open(ctx, "postgres://app@localhost:5432/salesflow")
//	if err != nil { ... }
//	defer db.Close()
//	if err := db.Migrate(ctx); err != nil { ... }
//	svc, err := sales.NewService(db.Sales())
//
// Sales, Inventory and Outbox return the database as the interfaces the
// domain packages declare (sales.Store, inventory.Store, eventbus.Outbox);
// nothing of pgx appears in this package's API.
//
// # Schema and migrations
//
// The schema is a series of numbered goose migrations embedded in the binary
// (migrations/*.sql). Migrate applies what is missing; several processes
// may call it at once, as they serialize on an advisory lock. sqlc generates
// the queries' Go code from the same migrations (sqlc.yaml at the module
// root), into an internal package.
//
// The schema holds every rule it can check on one row, so that a bug in a
// caller cannot corrupt stock or money: stock on hand and reserved are never
// negative and reserved never exceeds on hand; a movement's stock after is
// its stock before plus its quantity; a sale has at most one SALE and one
// RETURN movement per book; a sale's total is its subtotal less its discount
// plus its tax; a completed sale has a payment method and a payment time.
//
// # Transactions and errors
//
// InTx, of the DB or of the stores Sales and Inventory return, runs its
// function in one READ COMMITTED transaction, committed when the function
// returns nil and rolled back when it returns an error (which InTx returns
// as it is) or panics.
//
// Round trips are few: the BEGIN and every write whose caller waits for no
// answer (Reserve, Release, InsertSale, UpdateSale, Enqueue, ClaimNewKey,
// SaveResponse, MarkFirst, AddMovements, AddDay, AddBookStats,
// SaveProgress) are queued and sent in one pgx batch with the next
// statement that returns something, or with the COMMIT. Creating a sale
// takes two round trips: the books it reads, with the BEGIN and the key's
// claim; then the reservations, the sale, its event and the key's
// response, with the COMMIT. Completing or cancelling one takes two,
// reading a sale one, and the worker's transaction for a sale.completed
// event three (the event's record and the sale's progress; the
// statistics, the progress and the stock levels, locked last because the
// API waits for them; the movements and the COMMIT).
// A key claimed as new (ClaimNewKey) takes its advisory lock and is only
// checked to be absent at first, in a second statement so that its
// snapshot follows the lock; SaveResponse inserts it with its response,
// one write of the row rather than an insert and an update.
// WithTracer sees them. A queued write's error comes back from that later
// call or from InTx, and the server skips the rest of the batch, COMMIT
// included: a guarded write that matches too few rows raises SQLSTATE
// SF001 (the function salesflow_expect; the functions that write a row per
// element, such as salesflow_add_reserved, with the element's place in the
// DETAIL; AddMovements raises SF002 to SF005, one per reason) rather than
// report a row count nobody reads in time.
//
// The read-modify-write steps are single guarded statements or run on rows
// locked with SELECT ... FOR UPDATE:
//
//   - Reserve is one statement for all the books of a sale: for each, in
//     book-id order, an UPDATE that matches only when enough stock is
//     available (the function salesflow_add_reserved), so two buyers can never
//     both take the last unit; it fails with a *sales.StockError naming
//     the first short book, matching sales.ErrInsufficientStock.
//   - LockSale and LockBook (FOR NO KEY UPDATE, which the foreign-key
//     checks of sale lines and movements do not wait for) lock the row
//     until the transaction ends, or
//     fail with sales.ErrNotFound or inventory.ErrNotFound; LockLevels
//     locks a sale's stock levels in one statement, in book-id order.
//   - AddMovements writes each movement and its new level in one queued
//     statement that fails, with a SQLSTATE per reason, unless both were
//     written: a repeated SALE or RETURN movement fails the transaction
//     with inventory.ErrDuplicateMovement.
//
// Constraint violations that mean something to the domain come back as its
// errors, wrapped: stock checks as inventory.ErrInsufficientStock, an
// unknown book as inventory.ErrNotFound (in a movement) or
// sales.ErrUnknownBook (in a sale line), an unknown sale in a movement as
// sales.ErrNotFound. Any other database error is returned wrapped with
// context; after such an error PostgreSQL has aborted the transaction, and
// the function given to InTx must return.
//
// # Outbox
//
// Enqueue writes the event in the transaction of the change. After the
// commit, the DB wakes the relay: through its Waker's channel when the
// relay runs in the same process on the same DB, otherwise with a NOTIFY
// on OutboxChannel sent outside the transaction, on a connection of its
// own, at most one per 5 ms (see OutboxChannel). A NOTIFY inside the
// transaction would make every notifying commit wait for the one before
// it. The relay reads committed, unpublished records with
// Outbox().Pending in seq order and marks them with MarkPublished.
//
// Pending selects every unpublished record, not those past the last seq
// published, so a record whose transaction took its seq early and committed
// late is published late but never skipped; being READ COMMITTED, it never
// sees a record before its transaction commits. Records of one key come out
// in commit order because the transactions that write them are serialized:
// a status change locks the sale's row before it enqueues, and a sale's
// first event is written by the transaction that inserts the sale, which
// no other can lock before it commits. So a later event of a sale draws its
// seq after the earlier one committed. Anything else that enqueues must
// likewise serialize the writers of one key.
//
// # Relay: leader and wake-ups
//
// Leader elects the one relay that publishes, across processes: the holder
// of the session advisory lock RelayLockID. Waker wakes the relay after
// each commit that enqueued: those of the same DB directly, those of other
// processes through a LISTEN on OutboxChannel (a process notifies it while
// no Waker of its DB runs, that is while its relay does not lead). Each
// holds a connection of its own, outside the pool, for as long as it runs:
//
//	relay, err := eventbus.NewRelay(db.Outbox(), publisher,
//		eventbus.WithLeader(db.Leader()), eventbus.WithWaker(db.Waker()))
//	go relay.Run(ctx)
//
// # Consumers
//
// InTx runs a transaction whose Tx is a sales.Tx, an inventory.Tx, an
// analytics.Tx, a worker.Tx and an eventbus.BatchDeduper at once, so that a worker applies an event's effects and
// records the event as processed (processed_events) in one transaction:
//
//	handle := eventbus.Idempotent("analytics-group", db.InTx,
//		func(ctx context.Context, tx *postgres.Tx, ev eventbus.Event) error { ... })
//
// A DB and the stores it returns are safe for concurrent use; a
// transaction's Tx is not, and is valid only inside its InTx call.
package postgres
