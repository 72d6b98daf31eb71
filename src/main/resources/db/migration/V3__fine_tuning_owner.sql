-- Which replica runs a job, when it last said the job was alive, a cancel asked through another replica, and what
-- the job needs to go on where it is: a replica that stops (or dies: once the job's lease runs out) leaves its
-- unfinished jobs for another replica, or itself after a restart, to take over, and a job can be cancelled through
-- any replica.
ALTER TABLE fine_tuning_jobs
    ADD COLUMN owner            text,
    ADD COLUMN heartbeat_at     timestamptz,
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN pause_requested  boolean NOT NULL DEFAULT false,
    ADD COLUMN training_state   bytea;
