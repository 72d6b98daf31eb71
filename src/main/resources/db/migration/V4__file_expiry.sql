-- A fine-tuning file uploaded with OpenAI's expires_after stops existing at expires_at (null: kept until deleted).
ALTER TABLE training_files ADD COLUMN expires_at timestamptz;
