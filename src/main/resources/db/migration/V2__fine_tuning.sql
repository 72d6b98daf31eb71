-- Fine-tuning files (with their content) and jobs with their events. Like the registry's data rows they carry a
-- tenant name without a foreign key to tenants; deleting a tenant deletes them explicitly.

CREATE TABLE training_files (
    id         text        PRIMARY KEY,
    tenant     text        NOT NULL,
    filename   text        NOT NULL,
    purpose    text        NOT NULL,
    bytes      bigint      NOT NULL,
    content    bytea       NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX training_files_tenant ON training_files (tenant, created_at);

-- request is the job's creation body (JSON) as accepted; the training layer re-reads its hyperparameters.
CREATE TABLE fine_tuning_jobs (
    id               text        PRIMARY KEY,
    tenant           text        NOT NULL,
    created_at       timestamptz NOT NULL,
    request          text        NOT NULL,
    examples         integer     NOT NULL,
    total_steps      integer     NOT NULL,
    status           text        NOT NULL,
    steps_done       integer     NOT NULL,
    trained_tokens   bigint      NOT NULL,
    fine_tuned_model text,
    error_code       text,
    error_message    text,
    error_param      text,
    finished_at      timestamptz
);
CREATE INDEX fine_tuning_jobs_tenant ON fine_tuning_jobs (tenant, created_at);
CREATE INDEX fine_tuning_jobs_unfinished ON fine_tuning_jobs (created_at)
    WHERE status NOT IN ('succeeded', 'failed', 'cancelled');

CREATE TABLE fine_tuning_events (
    job_id     text        NOT NULL REFERENCES fine_tuning_jobs (id) ON DELETE CASCADE,
    seq        integer     NOT NULL,
    created_at timestamptz NOT NULL,
    level      text        NOT NULL,
    message    text        NOT NULL,
    type       text        NOT NULL,
    data       text        NOT NULL,
    PRIMARY KEY (job_id, seq)
);
