-- salesflow's create and complete transactions (bench/pgbench.go)
\set b1 random(1, 333)
\set b2 random(334, 666)
\set b3 random(667, 1000)
\set q1 random(1, 3)
\set q2 random(1, 3)
\set q3 random(1, 3)
\set k1 random(1, 9007199254740991)
\set k2 random(1, 9007199254740991)
BEGIN;
SELECT salesflow_expect(pg_try_advisory_xact_lock(hashtext('pgbench'), hashtext(:k1::text)));
SELECT salesflow_expect(NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE scope = 'pgbench' AND key = :k1::text));
SELECT id, price, available FROM books
WHERE id = ANY (ARRAY[md5(:b1::text)::uuid, md5(:b2::text)::uuid, md5(:b3::text)::uuid]);
UPDATE stock_levels SET reserved = reserved + :q1::bigint
WHERE book_id = md5(:b1::text)::uuid AND :q1::bigint > 0 AND on_hand - reserved >= :q1::bigint;
UPDATE stock_levels SET reserved = reserved + :q2::bigint
WHERE book_id = md5(:b2::text)::uuid AND :q2::bigint > 0 AND on_hand - reserved >= :q2::bigint;
UPDATE stock_levels SET reserved = reserved + :q3::bigint
WHERE book_id = md5(:b3::text)::uuid AND :q3::bigint > 0 AND on_hand - reserved >= :q3::bigint;
INSERT INTO sales (id, status, version, seller_id, customer_name, subtotal, discount, tax, total, currency, created_at, updated_at)
VALUES (gen_random_uuid(), 'PENDING', 1, 'pgbench', 'Customer', 1999 * (:q1::bigint + :q2::bigint + :q3::bigint), 0, 0, 1999 * (:q1::bigint + :q2::bigint + :q3::bigint), 'USD', now(), now())
RETURNING id AS sale_id
\gset
INSERT INTO sale_items (sale_id, line_no, book_id, quantity, unit_price, discount, subtotal, net) VALUES
(:sale_id, 0, md5(:b1::text)::uuid, :q1::bigint, 1999, 0, 1999 * :q1::bigint, 1999 * :q1::bigint),
(:sale_id, 1, md5(:b2::text)::uuid, :q2::bigint, 1999, 0, 1999 * :q2::bigint, 1999 * :q2::bigint),
(:sale_id, 2, md5(:b3::text)::uuid, :q3::bigint, 1999, 0, 1999 * :q3::bigint, 1999 * :q3::bigint);
WITH inserted AS (
    INSERT INTO outbox (event_id, topic, key, headers, value, created_at)
    VALUES (gen_random_uuid(), 'sale.created', :sale_id::text,
            '{"ce_specversion":"1.0","ce_type":"sale.created","ce_source":"/salesflow/sales","content-type":"application/json"}',
            convert_to(repeat('x', 700), 'UTF8'), now())
    RETURNING seq
)
SELECT seq FROM inserted;
INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim, response_status, response_body, responded_at)
VALUES ('pgbench', :k1::text, md5(:k1::text) || md5('pgbench'), now(), 'pgbench-' || :k1, 201, convert_to(repeat('x', 700), 'UTF8'), now());
COMMIT;
BEGIN;
SELECT salesflow_expect(pg_try_advisory_xact_lock(hashtext('admin'), hashtext(:k2::text)));
SELECT salesflow_expect(NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE scope = 'admin' AND key = :k2::text));
SELECT * FROM sales WHERE id = :sale_id FOR UPDATE;
SELECT * FROM sale_items WHERE sale_id = ANY (ARRAY[:sale_id::uuid]) ORDER BY sale_id, line_no;
UPDATE sales SET status = 'COMPLETED', version = 2, payment_method = 'CASH', paid_at = now(), updated_at = now()
WHERE id = :sale_id;
WITH inserted AS (
    INSERT INTO outbox (event_id, topic, key, headers, value, created_at)
    VALUES (gen_random_uuid(), 'sale.completed', :sale_id::text,
            '{"ce_specversion":"1.0","ce_type":"sale.completed","ce_source":"/salesflow/sales","content-type":"application/json"}',
            convert_to(repeat('x', 750), 'UTF8'), now())
    RETURNING seq
)
SELECT seq FROM inserted;
INSERT INTO idempotency_keys (scope, key, request_hash, claimed_at, claim, response_status, response_body, responded_at)
VALUES ('admin', :k2::text, md5(:k2::text) || md5('admin'), now(), 'pgbench-' || :k2, 200, convert_to(repeat('x', 750), 'UTF8'), now());
COMMIT;
