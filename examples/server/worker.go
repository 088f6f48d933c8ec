package main

import (
	"github.com/salesflow/salesflow/analytics"
	"github.com/salesflow/salesflow/eventbus"
	"github.com/salesflow/salesflow/worker"
)

// workerWiring is what the sale-event worker gives the server.
type workerWiring struct {
	Handler   eventbus.Handler      // applies one sale event in one transaction
	Batch     eventbus.BatchHandler // applies a partition's backlog, up to BatchSize events, in one transaction
	BatchSize int
	Topics    []string        // the topics Handler consumes
	Stats     analytics.Store // the statistics the worker keeps, for /analytics
	Applied   func() int64    // events applied and committed by this process
}

// wireWorker builds the worker (package worker) on a's store: its handler
// applies each sale event exactly once, in one transaction of the store,
// in the consumer group CONSUMER_GROUP. It is the one place that knows the
// worker's API; serve and worker run what it returns.
func wireWorker(a *App) (workerWiring, error) {
	opts := []worker.Option{
		worker.WithGroup(a.cfg.ConsumerGroup), worker.WithLogger(a.log), worker.WithLocation(a.cfg.Location),
		worker.WithTransactions(a.cfg.WorkerTxs), worker.WithCreatedWait(a.cfg.WorkerCreatedWait),
	}
	topics := worker.Topics(a.cfg.TopicPrefix)
	if a.pg != nil {
		w, err := worker.New(a.pg.InTx, opts...)
		if err != nil {
			return workerWiring{}, err
		}
		return workerWiring{Handler: w.Handler(), Batch: w.BatchHandler(), BatchSize: worker.DefaultBatch, Topics: topics, Stats: a.pg.Analytics(), Applied: w.Applied}, nil
	}
	w, err := worker.New(a.mem.InTx, opts...)
	if err != nil {
		return workerWiring{}, err
	}
	return workerWiring{Handler: w.Handler(), Batch: w.BatchHandler(), BatchSize: worker.DefaultBatch, Topics: topics, Stats: a.mem.Analytics(), Applied: w.Applied}, nil
}
