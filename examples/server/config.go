package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/salesflow/salesflow/sales"
)

// Options are the server's settings, from flags or from environment
// variables of the same name (--database-url or DATABASE_URL); a flag wins.
type Options struct {
	Port              int           `name:"port" default:"8080" doc:"HTTP port"`
	DatabaseURL       string        `name:"database-url" doc:"PostgreSQL URL (migrations are applied at start); empty: the in-memory store"`
	KafkaBrokers      string        `name:"kafka-brokers" doc:"Comma-separated Kafka or Redpanda seed brokers; empty: the in-memory bus"`
	KafkaPartitions   int           `name:"kafka-partitions" default:"12" doc:"Partitions of the topics created at start: the worker applies partitions in parallel"`
	KafkaReplication  int           `name:"kafka-replication-factor" default:"-1" doc:"Replicas of the topics created at start; -1: the broker's default"`
	KafkaSession      time.Duration `name:"kafka-session-timeout" default:"10s" doc:"How long the broker waits for a worker that stopped answering before it moves its partitions to the others (heartbeats every tenth of it), and for members to rejoin in a rebalance"`
	JWTSecret         string        `name:"jwt-secret" doc:"HS256 signing secret, at least 32 bytes; empty (and no public key): a random one, and an admin token is printed"`
	JWTPublicKeyFile  string        `name:"jwt-public-key-file" doc:"PEM public key that verifies tokens instead (RSA: RS256, Ed25519: EdDSA)"`
	JWTPrivateKeyFile string        `name:"jwt-private-key-file" doc:"PEM private key matching the public key, for the token command"`
	TaxRate           string        `name:"tax-rate" default:"0" doc:"Tax rate as a decimal fraction, such as 0.19"`
	Currency          string        `name:"currency" default:"USD" doc:"ISO 4217 currency of all amounts"`
	TimeZone          string        `name:"time-zone" default:"UTC" doc:"IANA time zone of calendar days (date filters, summaries)"`
	TopicPrefix       string        `name:"topic-prefix" doc:"Prefix of the sale topics"`
	ConsumerGroup     string        `name:"consumer-group" default:"analytics-group" doc:"Consumer group of the worker"`
	WorkerTxs         int           `name:"worker-transactions" default:"4" doc:"Transactions the worker runs at once (lanes of partitions); events that arrive while their lane is busy share its next transaction. Fewer: less database work under load; more: less waiting. 0: one transaction per event or partition batch"`
	WorkerCreatedWait time.Duration `name:"worker-created-wait" default:"50ms" doc:"How long the worker's call of sale.created events alone, which change no projection, waits when its lane is idle for a transaction that other events need, before its lane runs one for it (in a busy lane it queues as any call); 0: at once, up to 1s"`
	RelayLinger       time.Duration `name:"relay-linger" default:"20ms" doc:"How long the outbox relay waits after a commit wakes it, so that the events committed meanwhile are published together; 0: at once"`
	LogLevel          string        `name:"log-level" default:"info" doc:"debug, info, warn or error"`
	LogFormat         string        `name:"log-format" default:"text" doc:"text or json"`
	ShutdownTimeout   time.Duration `name:"shutdown-timeout" default:"30s" doc:"How long shutdown waits for requests in flight"`
	EventRetention    time.Duration `name:"event-retention" default:"168h" doc:"How long published outbox records and processed-event records are kept (pruned hourly); keep it longer than the broker's retention"`
}

// envName is the environment variable of an option: PORT for port.
func envName(option string) string {
	return strings.ToUpper(strings.ReplaceAll(option, "-", "_"))
}

// optionNames lists the options' flag names, in declaration order.
func optionNames() []string {
	t := reflect.TypeFor[Options]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Tag.Get("name")
	}
	return names
}

// EnvVars lists the environment variables the server reads.
func EnvVars() []string {
	var out []string
	for _, n := range optionNames() {
		out = append(out, envName(n))
	}
	return out
}

// bridgeEnv hands each option's environment variable (PORT) to humacli,
// which reads SERVICE_PORT, and rejects numbers it would silently ignore.
func bridgeEnv() error {
	t := reflect.TypeFor[Options]()
	for i := range t.NumField() {
		f := t.Field(i)
		env := envName(f.Tag.Get("name"))
		v, ok := os.LookupEnv(env)
		if !ok {
			continue
		}
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			if _, err := time.ParseDuration(v); err != nil {
				return fmt.Errorf("%s=%q: not a duration such as 30s", env, v)
			}
		case f.Type.Kind() == reflect.Int:
			if _, err := strconv.Atoi(v); err != nil {
				return fmt.Errorf("%s=%q: not a whole number", env, v)
			}
		}
		if _, set := os.LookupEnv("SERVICE_" + env); !set {
			os.Setenv("SERVICE_"+env, v)
		}
	}
	return nil
}

// Config is the checked form of Options.
type Config struct {
	Port              int
	DatabaseURL       string
	KafkaBrokers      []string
	KafkaPartitions   int32
	KafkaReplication  int16
	KafkaSession      time.Duration
	Auth              *Auth
	GeneratedSecret   bool // no key was configured: Auth has a random secret
	TaxRate           sales.Rate
	Currency          sales.Currency
	Location          *time.Location
	TopicPrefix       string
	ConsumerGroup     string
	WorkerTxs         int
	WorkerCreatedWait time.Duration
	RelayLinger       time.Duration
	ShutdownTimeout   time.Duration
	EventRetention    time.Duration
}

// Config checks the options. Without JWT_SECRET or JWT_PUBLIC_KEY_FILE it
// makes a random secret when generate is true, and fails otherwise.
func (o Options) Config(generate bool) (Config, error) {
	c := Config{
		Port: o.Port, DatabaseURL: strings.TrimSpace(o.DatabaseURL), TopicPrefix: o.TopicPrefix,
		ConsumerGroup: o.ConsumerGroup, WorkerTxs: o.WorkerTxs, WorkerCreatedWait: o.WorkerCreatedWait, RelayLinger: o.RelayLinger, ShutdownTimeout: o.ShutdownTimeout, EventRetention: o.EventRetention,
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Port < 0 || o.Port > 65535 {
		bad("PORT %d: want 0 to 65535", o.Port)
	}
	for b := range strings.SplitSeq(o.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.KafkaBrokers = append(c.KafkaBrokers, b)
		}
	}
	if o.KafkaPartitions == 0 || o.KafkaPartitions < -1 || o.KafkaPartitions > 10000 {
		bad("KAFKA_PARTITIONS %d: want 1 to 10000, or -1 for the broker's default", o.KafkaPartitions)
	}
	c.KafkaPartitions = int32(o.KafkaPartitions)
	if o.WorkerTxs < 0 || o.WorkerTxs > 1000 {
		bad("WORKER_TRANSACTIONS %d: want 0 to 1000", o.WorkerTxs)
	}
	if o.WorkerCreatedWait < 0 || o.WorkerCreatedWait > time.Second {
		bad("WORKER_CREATED_WAIT %v: want 0 to 1s", o.WorkerCreatedWait)
	}
	if o.RelayLinger < 0 || o.RelayLinger > time.Second {
		bad("RELAY_LINGER %v: want 0 to 1s", o.RelayLinger)
	}
	if o.KafkaReplication == 0 || o.KafkaReplication < -1 || o.KafkaReplication > 100 {
		bad("KAFKA_REPLICATION_FACTOR %d: want 1 to 100, or -1 for the broker's default", o.KafkaReplication)
	}
	c.KafkaReplication = int16(o.KafkaReplication)
	if c.KafkaSession = o.KafkaSession; c.KafkaSession < time.Second || c.KafkaSession > time.Hour {
		bad("KAFKA_SESSION_TIMEOUT %v: want 1s to 1h (the broker may ask for more, Kafka and Redpanda: 6s)", o.KafkaSession)
	}
	var err error
	if c.TaxRate, err = sales.ParseRate(o.TaxRate); err != nil {
		bad("TAX_RATE %q: %v", o.TaxRate, err)
	}
	if c.Currency, err = sales.ParseCurrency(o.Currency); err != nil {
		bad("CURRENCY %q: %v", o.Currency, err)
	}
	if c.Location, err = time.LoadLocation(o.TimeZone); err != nil || o.TimeZone == "" {
		bad("TIME_ZONE %q: not an IANA time zone such as Europe/Berlin", o.TimeZone)
	}
	if c.ConsumerGroup == "" {
		bad("CONSUMER_GROUP is empty")
	}
	if c.ShutdownTimeout <= 0 {
		bad("SHUTDOWN_TIMEOUT %v: want a positive duration", c.ShutdownTimeout)
	}
	if c.EventRetention < time.Hour {
		bad("EVENT_RETENTION %v: want at least 1h", c.EventRetention)
	}
	switch {
	case o.JWTPublicKeyFile != "" && o.JWTSecret != "":
		bad("set JWT_SECRET or JWT_PUBLIC_KEY_FILE, not both")
	case o.JWTPublicKeyFile != "":
		pub, err := os.ReadFile(o.JWTPublicKeyFile)
		if err != nil {
			bad("JWT_PUBLIC_KEY_FILE: %v", err)
			break
		}
		var priv []byte
		if o.JWTPrivateKeyFile != "" {
			if priv, err = os.ReadFile(o.JWTPrivateKeyFile); err != nil {
				bad("JWT_PRIVATE_KEY_FILE: %v", err)
				break
			}
		}
		if c.Auth, err = NewKeyAuth(pub, priv); err != nil {
			bad("%v", err)
		}
	case o.JWTPrivateKeyFile != "":
		bad("JWT_PRIVATE_KEY_FILE needs JWT_PUBLIC_KEY_FILE")
	case o.JWTSecret != "":
		if c.Auth, err = NewHMACAuth([]byte(o.JWTSecret)); err != nil {
			bad("JWT_SECRET: %v", err)
		}
	case generate:
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		c.Auth, _ = NewHMACAuth([]byte(hex.EncodeToString(secret)))
		c.GeneratedSecret = true
	default:
		bad("set JWT_SECRET (or JWT_PUBLIC_KEY_FILE and JWT_PRIVATE_KEY_FILE)")
	}
	return c, errors.Join(errs...)
}

// newLogger returns the logger the options ask for, writing to w.
func (o Options) newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", o.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT %q: want text or json", o.LogFormat)
}

// describe is the first log line: what the process runs on.
func (c Config) describe() (string, []any) {
	store, bus := "memory", "memory"
	attrs := []any{}
	if c.DatabaseURL != "" {
		store = "postgres"
		attrs = append(attrs, "database", redactURL(c.DatabaseURL))
	}
	if len(c.KafkaBrokers) > 0 {
		bus = "kafka"
		attrs = append(attrs, "brokers", strings.Join(c.KafkaBrokers, ","))
	}
	attrs = append([]any{"store", store, "bus", bus}, attrs...)
	if store == "memory" && bus == "memory" {
		return "embedded default: in-memory store and in-memory bus, nothing is kept across restarts (set DATABASE_URL and KAFKA_BROKERS to change)", attrs
	}
	return fmt.Sprintf("running on the %s store and the %s bus", store, bus), attrs
}

// redactURL hides the password of a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "(connection string)"
	}
	return u.Redacted()
}
