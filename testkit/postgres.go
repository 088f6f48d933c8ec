package testkit

import (
	"cmp"
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/salesflow/salesflow/storage/postgres"
)

// defaultPostgresURL is the server PostgresURL uses when DATABASE_URL is
// not set: a local PostgreSQL that trusts the postgres user.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL returns the URL of a new, empty database made for this test
// alone, and dropped (WITH (FORCE)) when the test ends. The database is
// created on the server that DATABASE_URL names, as a postgres:// URL whose
// user may create databases, else on defaultPostgresURL. When that server
// does not answer within five seconds the test is skipped, or fails when
// the environment has CI=true. Safe for parallel tests.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := cmp.Or(os.Getenv("DATABASE_URL"), defaultPostgresURL)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("testkit: DATABASE_URL must be a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		msg := "testkit: no PostgreSQL at " + u.Redacted() + " (set DATABASE_URL): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer conn.Close(context.Background())

	name := "salesflow_test_" + strings.ToLower(rand.Text())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("testkit: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// OpenPostgres opens a new, migrated database made for this test alone
// (see PostgresURL), closed and dropped when the test ends. Its pool holds
// at most 8 connections, so that many parallel tests stay within the
// server's max_connections.
func OpenPostgres(t testing.TB) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), PostgresURL(t), postgres.WithMaxConns(8))
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return db
}
