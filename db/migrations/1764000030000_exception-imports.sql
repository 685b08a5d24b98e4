-- Up Migration

-- Resolutions uploaded as CSV (POST /v1/settlements/{id}/exceptions/import): stored by the API,
-- then applied to the exception book by the cycle's workflow (Update importResolutions), all or
-- nothing. The Update carries only the import's id: a file of 5,000 decisions never crosses
-- into workflow history, where a payload over 2 MB fails.
--
-- `import_id` is derived from the cycle and the decisions (sha256 of their canonical form), so
-- uploading the same decisions again finds the same row; the book recognises an item resolved
-- by this import through the Update id it records (`import:<import_id>`). `digest` is the
-- sha256 of the uploaded bytes as received (the first upload's); `items` are the decisions as
-- read, each with its line in that file.
CREATE TABLE exception_imports (
  import_id    text PRIMARY KEY CHECK (import_id ~ '^imp-[0-9a-f]{64}$'),
  cycle_id     text NOT NULL REFERENCES settlement_cycles (id),
  items        jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array' AND jsonb_array_length(items) > 0),
  line_count   integer NOT NULL CHECK (line_count > 0),
  digest       text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  -- The actor key of the operator who first uploaded it (who applies it is in the book).
  uploaded_by  text NOT NULL CHECK (length(uploaded_by) BETWEEN 1 AND 300),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exception_imports_cycle ON exception_imports (cycle_id, created_at);

-- Stored once: the application inserts and reads, never rewrites what was uploaded.
REVOKE UPDATE, DELETE, TRUNCATE ON exception_imports FROM clearhouse_app;

-- Down Migration
DROP TABLE exception_imports;
