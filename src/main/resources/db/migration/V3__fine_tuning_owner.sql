-- Which replica runs a job, when it last said the job was alive, and a cancel asked through another replica: a
-- replica that stops without finishing its jobs leaves them to be failed by another once their lease runs out, and
-- a job can be cancelled through any replica.
ALTER TABLE fine_tuning_jobs
    ADD COLUMN owner            text,
    ADD COLUMN heartbeat_at     timestamptz,
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
