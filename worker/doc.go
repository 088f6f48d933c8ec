// Package worker applies sale events to inventory and analytics, each
// event exactly once and each sale's events in version order, whatever
// order and however often they arrive.
//
// For every event the worker runs one transaction that records the event
// as processed for its consumer group (eventbus.Idempotent) and applies
// its effects; when a partition has a backlog, up to DefaultBatch events
// share one transaction (BatchHandler, eventbus.IdempotentBatch). Under
// load, the events of several partitions share transactions too: at most
// DefaultTransactions run at once (WithTransactions), each partition's
// events in the same one of those lanes, and the handler calls that arrive
// while their lane is busy go together into its next transaction. A shared
// transaction that fails applies nothing, and each call in it then runs
// alone. A sale's creation changes no projection (its stock was reserved
// with the sale): a call holding only sale.created events that finds its
// lane idle waits up to DefaultCreatedWait (WithCreatedWait) for a
// transaction its lane runs for other events, and runs one of its own only
// when none came. Effects
// follow from the sale's state, not from the event alone: each event
// carries the whole sale at its version, and the worker keeps per sale the
// highest version applied and whether its completion (SALE movements,
// statistics added) and its return (RETURN movements, statistics reversed)
// were applied. An event newer than what was applied brings the sale up to
// that version at once, in order, so a cancellation that overtakes its
// completion applies both; an older one changes nothing. No event waits
// for a missing predecessor, so no sale blocks another.
package worker
