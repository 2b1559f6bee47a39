-- Sessions of the Financials web client: one row per signed-in browser. Only the SHA-256 of the
-- session token is stored (the token itself lives in the browser's cookie); a session ends when
-- it is idle too long, grows too old, or its user signs out.
CREATE TABLE fin_web_session (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX fin_web_session_user ON fin_web_session (user_id);
CREATE INDEX fin_web_session_last_seen ON fin_web_session (last_seen_at);
