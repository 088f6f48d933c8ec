-- How far the worker has brought each sale (see worker.Progress): the
-- highest version applied and whether its completion and its return were
-- applied. The row is the lock that serializes one sale's events.

-- +goose Up
CREATE TABLE sale_progress (
    sale_id  uuid    PRIMARY KEY REFERENCES sales (id),
    version  bigint  NOT NULL CONSTRAINT sale_progress_version_check CHECK (version >= 0),
    sold     boolean NOT NULL,
    returned boolean NOT NULL,
    CONSTRAINT sale_progress_return_after_sale CHECK (NOT returned OR sold)
);

-- +goose Down
DROP TABLE sale_progress;
