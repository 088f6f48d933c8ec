package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/salesflow/salesflow/eventbus"
)

// CreateTopics creates topics and each one's dead-letter twin (the name
// plus eventbus.DeadLetterSuffix, unless it already ends with it), with
// partitions partitions, replicationFactor replicas and max.message.bytes
// set to MaxMessageBytes. A topic that already exists counts as created and
// is left as it is. Pass -1 for partitions or replicationFactor to take the
// broker's default. Brokers such as Redpanda do not create topics on first
// use, so call this before publishing or subscribing.
//
// It returns an error wrapping ErrInvalid for bad arguments, the error of a
// failed request (wrapping ctx's error when ctx is done), or the joined
// errors of the topics that could not be created, each wrapping the
// broker's kerr error. For a cluster that needs TLS or SASL, see
// CreateTopicsWith.
func CreateTopics(ctx context.Context, brokers []string, partitions int32, replicationFactor int16, topics ...string) error {
	return CreateTopicsWith(ctx, brokers, partitions, replicationFactor, topics)
}

// CreateTopicsWith is CreateTopics with the options of its client:
// WithClientOptions (TLS, SASL, timeouts, as for the publishers and
// subscribers of the same cluster) and WithLogger. The other options apply
// only to publishers and subscribers and are rejected with ErrInvalid.
func CreateTopicsWith(ctx context.Context, brokers []string, partitions int32, replicationFactor int16, topics []string, opts ...Option) error {
	c, err := newConfig(roleAdmin, opts)
	if err != nil {
		return err
	}
	switch {
	case len(brokers) == 0:
		return fmt.Errorf("%w: create topics: no brokers", ErrInvalid)
	case partitions == 0 || partitions < -1:
		return fmt.Errorf("%w: create topics: %d partitions", ErrInvalid, partitions)
	case replicationFactor == 0 || replicationFactor < -1:
		return fmt.Errorf("%w: create topics: replication factor %d", ErrInvalid, replicationFactor)
	case len(topics) == 0:
		return fmt.Errorf("%w: create topics: no topics", ErrInvalid)
	}
	var names []string
	for _, t := range topics {
		if t == "" {
			return fmt.Errorf("%w: create topics: empty topic name", ErrInvalid)
		}
		names = append(names, t)
		if !strings.HasSuffix(t, eventbus.DeadLetterSuffix) {
			names = append(names, t+eventbus.DeadLetterSuffix)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	kopts := append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.WithLogger(kslog.New(c.logger))}, c.clientOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("%w: create topics: %v", ErrInvalid, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	configs := map[string]*string{"max.message.bytes": kadm.StringPtr(strconv.Itoa(MaxMessageBytes))}
	resps, err := adm.CreateTopics(ctx, partitions, replicationFactor, configs, names...)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	var errs []error
	for _, r := range resps.Sorted() {
		if r.Err == nil || errors.Is(r.Err, kerr.TopicAlreadyExists) {
			continue
		}
		if r.ErrMessage != "" {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w (%s)", r.Topic, r.Err, r.ErrMessage))
		} else {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", r.Topic, r.Err))
		}
	}
	return errors.Join(errs...)
}
