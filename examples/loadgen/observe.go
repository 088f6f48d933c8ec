package main

// The server's side of the run comes from two places: its /metrics page
// (outbox backlog, events published, handled and applied, and the process
// collector's CPU and memory) and, when the load generator knows the
// server's pid, /proc/<pid>/stat and /proc/<pid>/status, which also work for
// a server without the process collector.

// Metric names the report reads from /metrics.
const (
	mBacklog   = "salesflow_outbox_backlog"
	mOldest    = "salesflow_outbox_oldest_age_seconds"
	mPublished = "salesflow_outbox_published_total"
	mHandled   = "salesflow_events_handled_total"
	mApplied   = "salesflow_events_applied_total"
	mEventErrs = "salesflow_event_errors_total"
	mLag       = "salesflow_consumer_lag"    // per topic: summed
	mLagUp     = "salesflow_consumer_lag_up" // 1 when the server could read it
	mCPU       = "process_cpu_seconds_total"
	mRSS       = "process_resident_memory_bytes"
	mGoroutine = "go_goroutines"
	mHeapInuse = "go_memstats_heap_inuse_bytes"
)
