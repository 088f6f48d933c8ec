-- salesflow_movements_applied(n, ...) is salesflow_movement_applied (00009)
-- for the n-th movement of a statement that writes several: it raises
-- with the same SQLSTATEs and n in the error's DETAIL, so that
-- AddMovements can name the movement that was not applied.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION salesflow_movements_applied(n integer, book_found boolean, level_matches boolean,
                                            inserted boolean, applied boolean, for_sale boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF applied THEN
        RETURN;
    ELSIF NOT book_found THEN
        RAISE EXCEPTION 'salesflow: no stock level for the book' USING ERRCODE = 'SF002', DETAIL = n;
    ELSIF level_matches AND NOT inserted AND for_sale THEN
        RAISE EXCEPTION 'salesflow: the sale already has this movement for the book' USING ERRCODE = 'SF003', DETAIL = n;
    ELSIF level_matches AND NOT inserted THEN
        RAISE EXCEPTION 'salesflow: movement id already used' USING ERRCODE = 'SF004', DETAIL = n;
    END IF;
    RAISE EXCEPTION 'salesflow: on hand is not the movement''s stock before' USING ERRCODE = 'SF005', DETAIL = n;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION salesflow_movements_applied(integer, boolean, boolean, boolean, boolean, boolean);
