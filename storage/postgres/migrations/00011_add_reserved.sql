-- salesflow_add_reserved(book_ids, qtys, sign) adds sign × qtys[i] units
-- (sign 1 reserves, -1 releases) to the reserved stock of book book_ids[i],
-- for each i in turn, each with a guarded UPDATE: the quantity must be
-- positive, and reserved must stay from 0 to on hand, which for a
-- reservation is the guard that reserving one book was (see 00008): of
-- two concurrent buyers of the last unit, the second waits for the first's
-- row lock, re-evaluates the guard and matches no row. The caller sends
-- the books distinct and in ascending id order, the order every
-- transaction locks stock rows in, so that two calls cannot deadlock.
-- Unless every book's guard held, it raises SQLSTATE SF001 with the place
-- (from 1) of the first that did not in the error's DETAIL
-- (salesflow_unmet), and the statement that called it changes nothing.
--
-- One function rather than one statement of a join: the UPDATE of a join
-- with the arrays would lock the rows in the order of its plan, and its
-- generic plan, costed for ten elements, scans a table of a thousand
-- levels whole. Here each UPDATE finds its row by the primary key.
--
-- salesflow_unmet(n) raises SF001 with n in the DETAIL: the error of every
-- function that writes a row per array element and stops at the first
-- whose guard matched nothing (00012 too).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION salesflow_unmet(n integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'salesflow: a guarded write matched fewer rows than expected'
        USING ERRCODE = 'SF001', DETAIL = n;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION salesflow_add_reserved(book_ids uuid[], qtys bigint[], sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(book_ids), 0) LOOP
        UPDATE stock_levels SET reserved = reserved + sign * qtys[i]
        WHERE book_id = book_ids[i] AND qtys[i] > 0 AND reserved + sign * qtys[i] BETWEEN 0 AND on_hand;
        IF NOT FOUND THEN
            PERFORM salesflow_unmet(i);
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION salesflow_add_reserved(uuid[], bigint[], integer);
DROP FUNCTION salesflow_unmet(integer);
