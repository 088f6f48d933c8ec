package harness

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// CreateDatabase makes the database name on the PostgreSQL server at
// serverURL and returns its URL: serverURL with the database replaced.
func CreateDatabase(ctx context.Context, serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL URL: %w", err)
	}
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at %s: %w", Redacted(serverURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase drops each of the databases names that exists on the
// PostgreSQL server at serverURL, with FORCE: their connections are
// closed. It goes on after a database it could not drop.
func DropDatabase(ctx context.Context, serverURL string, names ...string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", Redacted(serverURL), err)
	}
	defer conn.Close(ctx)
	var errs []error
	for _, name := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Redacted is the URL u with its password masked, for logs and errors.
func Redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a malformed URL)"
	}
	return p.Redacted()
}
