package postgres

import (
	"context"
	"fmt"
)

// ExecRolledBack runs one raw SQL statement in a transaction that it always
// rolls back, and returns the statement's error: tests use it to see what
// the schema itself refuses, without changing the database.
func (d *DB) ExecRolledBack(ctx context.Context, sql string, args ...any) error {
	t, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer t.Rollback(context.WithoutCancel(ctx))
	_, err = t.Exec(ctx, sql, args...)
	return err
}

// MigrateDown undoes every migration.
func (d *DB) MigrateDown(ctx context.Context) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.DownTo(ctx, 0)
	return err
}

// Tables returns the names of the tables in the public schema, sorted.
func (d *DB) Tables(ctx context.Context) ([]string, error) {
	rows, err := d.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
