-- salesflow_expect(ok) raises SQLSTATE SF001 unless ok. A guarded write
-- that matched fewer rows than it must (stock short, a sale or a claim gone)
-- asserts it with this, so that the server fails the statement and skips
-- the rest of its batch, COMMIT included: writes are sent ahead of their
-- results, several in one round trip (storage/postgres/pipe.go).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION salesflow_expect(ok boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'salesflow: a guarded write matched fewer rows than expected' USING ERRCODE = 'SF001';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION salesflow_expect(boolean);
