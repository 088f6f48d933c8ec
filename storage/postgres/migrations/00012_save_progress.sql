-- salesflow_save_progress(ids, versions, is_sold, is_returned) stores the
-- worker's progress of each sale in turn (its version, and whether its
-- SALE and RETURN movements were applied: element i of each array), each
-- with an UPDATE that finds the record by its primary key, and only where
-- the stored version is not higher: versions never go back. Unless every
-- record was updated, it raises SQLSTATE SF001 (salesflow_unmet, 00011),
-- with the place (from 1) of the first that was not in the error's DETAIL.
--
-- One function rather than one statement: an UPDATE of the records whose
-- sale_id = ANY (the sales), or of a join with them, was planned at every
-- call for the arrays' lengths, or, its arrays padded to keep the generic
-- plan (costed for ten sales), scanned the records whole while they were
-- about a thousand, as on a new deployment (2.1 ms a call at half load).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION salesflow_save_progress(ids uuid[], versions bigint[], is_sold boolean[], is_returned boolean[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(ids), 0) LOOP
        UPDATE sale_progress SET version = versions[i], sold = is_sold[i], returned = is_returned[i]
        WHERE sale_id = ids[i] AND version <= versions[i];
        IF NOT FOUND THEN
            PERFORM salesflow_unmet(i);
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION salesflow_save_progress(uuid[], bigint[], boolean[], boolean[]);
