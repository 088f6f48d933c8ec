package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/danielgtaylor/huma/v2/humacli"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/salesflow/salesflow/storage/postgres"
)

// Main is the command line: serve (the default), worker, migrate, token
// and openapi. main hands off to it; tests call its commands directly.
type Main struct {
	Stdout, Stderr io.Writer
}

// CLI returns the humacli command line of m.
func (m *Main) CLI() humacli.CLI {
	cli := humacli.New(func(humacli.Hooks, *Options) {})
	root := cli.Root()
	root.Use = "server"
	root.Short = "The salesflow reference server: sales API, outbox relay and worker"
	root.Long = "The salesflow reference server. Without DATABASE_URL and KAFKA_BROKERS it runs on the embedded\n" +
		"in-memory store and bus. Every flag can be set by the environment variable of the same name:\n" +
		"--database-url by DATABASE_URL, --port by PORT, and so on."
	root.SilenceUsage = true
	// humacli shows a flag's environment value as its default in --help:
	// never a secret.
	for _, name := range []string{"jwt-secret", "database-url"} {
		for _, fs := range []*pflag.FlagSet{root.PersistentFlags(), root.Flags()} {
			if f := fs.Lookup(name); f != nil {
				f.DefValue = ""
			}
		}
	}
	run := func(f func(ctx context.Context, o Options) error) func(*cobra.Command, []string) {
		return humacli.WithOptions(func(cmd *cobra.Command, _ []string, o *Options) {
			if err := f(cmd.Context(), *o); err != nil {
				fmt.Fprintln(m.Stderr, "error:", err)
				os.Exit(1)
			}
		})
	}
	serve := run(m.Serve)
	root.Run = serve
	root.AddCommand(
		&cobra.Command{Use: "serve", Short: "Serve the API, with the outbox relay and the worker (the default)", Args: cobra.NoArgs, Run: serve},
		&cobra.Command{Use: "worker", Short: "Run the worker alone (needs DATABASE_URL and KAFKA_BROKERS)", Args: cobra.NoArgs, Run: run(m.Worker)},
		&cobra.Command{Use: "migrate", Short: "Apply the database migrations (needs DATABASE_URL)", Args: cobra.NoArgs, Run: run(m.Migrate)},
		&cobra.Command{Use: "openapi", Short: "Print the OpenAPI 3.1 document", Args: cobra.NoArgs, Run: run(func(context.Context, Options) error {
			return m.OpenAPI()
		})},
	)
	var (
		role, sub string
		ttl       time.Duration
	)
	token := &cobra.Command{
		Use:   "token --role admin|user --sub ID",
		Short: "Print a signed token (needs JWT_SECRET, or the key files)",
		Args:  cobra.NoArgs,
		// Like the server's, the token's flags can be set by the
		// environment: ROLE, SUB and TTL; a flag given wins.
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range []string{"role", "sub", "ttl"} {
				env := strings.ToUpper(name)
				if v, ok := os.LookupEnv(env); ok && !cmd.Flags().Changed(name) {
					if err := cmd.Flags().Set(name, v); err != nil {
						return fmt.Errorf("%s=%q: %w", env, v, err)
					}
				}
			}
			return nil
		},
		Run: run(func(_ context.Context, o Options) error {
			return m.Token(o, Principal{Subject: sub, Role: Role(role)}, ttl)
		}),
	}
	token.Flags().StringVar(&role, "role", "", "admin or user (env ROLE)")
	token.Flags().StringVar(&sub, "sub", "", "the subject: the user id, the seller of the sales made with the token (env SUB)")
	token.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (env TTL)")
	_ = token.MarkFlagRequired("role")
	_ = token.MarkFlagRequired("sub")
	root.AddCommand(token)
	return cli
}

// Serve runs the API, the relay and the worker until SIGINT or SIGTERM.
func (m *Main) Serve(ctx context.Context, o Options) error {
	log, err := o.newLogger(m.Stderr)
	if err != nil {
		return err
	}
	cfg, err := o.Config(true)
	if err != nil {
		return err
	}
	msg, attrs := cfg.describe()
	log.Info(msg, attrs...)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := Open(ctx, cfg, serveMode, log)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "docs", fmt.Sprintf("http://localhost:%d/docs", cfg.Port))
	if cfg.GeneratedSecret {
		tok, err := cfg.Auth.Sign(Principal{Subject: "admin", Role: RoleAdmin}, 24*time.Hour)
		if err != nil {
			return err
		}
		log.Warn("no JWT_SECRET: signing with a random secret; here is an admin token (sub admin, 24 h); set JWT_SECRET to mint more with the token command")
		fmt.Fprintf(m.Stdout, "export TOKEN=%s\n", tok)
	}
	return app.Serve(ctx, ln)
}

// Worker runs the worker alone until SIGINT or SIGTERM, with /healthz,
// /readyz and /metrics on PORT.
func (m *Main) Worker(ctx context.Context, o Options) error {
	log, err := o.newLogger(m.Stderr)
	if err != nil {
		return err
	}
	cfg, err := o.Config(true) // the worker verifies no tokens
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" || len(cfg.KafkaBrokers) == 0 {
		return errors.New("worker needs DATABASE_URL and KAFKA_BROKERS: with the in-memory store and bus, serve runs the worker in its own process")
	}
	msg, attrs := cfg.describe()
	log.Info("worker "+msg, attrs...)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := Open(ctx, cfg, workerMode, log)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	log.Info("worker running", "group", cfg.ConsumerGroup, "topics", app.work.Topics, "addr", ln.Addr().String())
	return app.Serve(ctx, ln)
}

// Migrate applies the database migrations.
func (m *Main) Migrate(ctx context.Context, o Options) error {
	if o.DatabaseURL == "" {
		return errors.New("migrate needs DATABASE_URL")
	}
	log, err := o.newLogger(m.Stderr)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, o.DatabaseURL, postgres.WithLogger(log))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	log.Info("database migrated", "database", redactURL(o.DatabaseURL))
	return nil
}

// Token prints a token for p, valid for ttl, alone on stdout.
func (m *Main) Token(o Options, p Principal, ttl time.Duration) error {
	cfg, err := o.Config(false)
	if err != nil {
		return err
	}
	tok, err := cfg.Auth.Sign(p, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(m.Stdout, tok)
	return err
}

// OpenAPI prints the OpenAPI 3.1 document.
func (m *Main) OpenAPI() error {
	b, err := openAPIDocument()
	if err != nil {
		return err
	}
	_, err = m.Stdout.Write(b)
	return err
}

// openAPIDocument returns the API's OpenAPI 3.1 document, indented.
func openAPIDocument() ([]byte, error) {
	s := newServer(&server{})
	b, err := json.MarshalIndent(s.api.OpenAPI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
