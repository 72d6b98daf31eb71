-- Registry schema: tenants, API keys (hashes only), intervention versions with their bundle bytes, tasks.
-- Data rows carry a tenant name without a foreign key to tenants: the open single-tenant mode stores under
-- 'default', which has no tenant record. Deleting a tenant deletes its rows explicitly.

CREATE TABLE tenants (
    name                text        PRIMARY KEY,
    created_at          timestamptz NOT NULL,
    requests_per_minute bigint      CHECK (requests_per_minute > 0),
    tokens_per_minute   bigint      CHECK (tokens_per_minute > 0)
);

CREATE TABLE api_keys (
    id         text        PRIMARY KEY,
    tenant     text        NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    key_hash   bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

-- One row per intervention name ever used by a tenant; last_version only grows, so numbers are never reused.
-- Upserting it serializes concurrent uploads of one name across replicas.
CREATE TABLE intervention_names (
    tenant       text    NOT NULL,
    name         text    NOT NULL,
    last_version integer NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE intervention_versions (
    tenant        text        NOT NULL,
    name          text        NOT NULL,
    version       integer     NOT NULL CHECK (version > 0),
    type          text        NOT NULL,
    layers        integer[]   NOT NULL,
    rank          integer     NOT NULL,
    positions     text,
    share_weights boolean     NOT NULL,
    interventions integer     NOT NULL,
    sha256        text        NOT NULL,
    size          bigint      NOT NULL,
    bundle        bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, name, version),
    FOREIGN KEY (tenant, name) REFERENCES intervention_names (tenant, name) ON DELETE CASCADE
);

CREATE TABLE tasks (
    tenant     text        NOT NULL,
    name       text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- A routed version cannot be deleted (RESTRICT), whichever replica tries.
CREATE TABLE task_routes (
    tenant   text    NOT NULL,
    task     text    NOT NULL,
    position integer NOT NULL,
    name     text    NOT NULL,
    version  integer NOT NULL,
    weight   integer NOT NULL CHECK (weight > 0),
    PRIMARY KEY (tenant, task, position),
    FOREIGN KEY (tenant, task) REFERENCES tasks (tenant, name) ON DELETE CASCADE,
    FOREIGN KEY (tenant, name, version) REFERENCES intervention_versions (tenant, name, version)
        ON DELETE RESTRICT
);
CREATE INDEX task_routes_target ON task_routes (tenant, name, version);
