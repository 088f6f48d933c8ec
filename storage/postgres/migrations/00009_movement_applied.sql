-- salesflow_movement_applied(...) raises unless a movement was applied,
-- with one SQLSTATE per reason, so that AddMovements can be sent ahead of
-- its answer like the other guarded writes (see 00008 and
-- storage/postgres/pipe.go): SF002 no stock level for the book, SF003 a
-- second SALE or RETURN movement of a sale and book, SF004 a movement id
-- already used, SF005 on hand is not the movement's stock_before (the
-- level was not locked).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION salesflow_movement_applied(book_found boolean, level_matches boolean, inserted boolean,
                                           applied boolean, for_sale boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF applied THEN
        RETURN;
    ELSIF NOT book_found THEN
        RAISE EXCEPTION 'salesflow: no stock level for the book' USING ERRCODE = 'SF002';
    ELSIF level_matches AND NOT inserted AND for_sale THEN
        RAISE EXCEPTION 'salesflow: the sale already has this movement for the book' USING ERRCODE = 'SF003';
    ELSIF level_matches AND NOT inserted THEN
        RAISE EXCEPTION 'salesflow: movement id already used' USING ERRCODE = 'SF004';
    END IF;
    RAISE EXCEPTION 'salesflow: on hand is not the movement''s stock before' USING ERRCODE = 'SF005';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION salesflow_movement_applied(boolean, boolean, boolean, boolean, boolean);
