package kafka

// FetchMaxBytes is the subscriber's fetch bound, for the benchmarks' plain
// franz-go consumer, which reads with the same bounds.
const FetchMaxBytes = fetchMaxBytes
