-- Schema version 1: call detail records, the queue event log, voicemail and the
-- registrar's latest snapshot. Times are Unix milliseconds; JSON is stored as text.

CREATE TABLE cdr (
    id            TEXT PRIMARY KEY NOT NULL,
    sip_call_id   TEXT NOT NULL,
    caller        TEXT NOT NULL,
    caller_name   TEXT NOT NULL,
    did           TEXT NOT NULL,
    trunk         TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,
    answer_ms     INTEGER,
    end_ms        INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    billable_ms   INTEGER NOT NULL,
    disposition   TEXT NOT NULL,
    queue         TEXT,
    agent         TEXT,
    wait_ms       INTEGER,
    hangup_by     TEXT NOT NULL,
    hangup_reason TEXT NOT NULL,
    recording     TEXT,
    variables     TEXT NOT NULL
);
-- Queries filter on one of these and list newest first, so each index ends in start_ms.
-- Every index costs the writer CPU at each commit; calls that never reached a queue or an
-- agent stay out of those two (`queue = ?` still uses them).
CREATE INDEX cdr_start ON cdr (start_ms);
CREATE INDEX cdr_queue ON cdr (queue, start_ms) WHERE queue IS NOT NULL;
CREATE INDEX cdr_agent ON cdr (agent, start_ms) WHERE agent IS NOT NULL;
CREATE INDEX cdr_caller ON cdr (caller, start_ms);

CREATE TABLE queue_log (
    id      INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    call    TEXT,
    queue   TEXT,
    agent   TEXT,
    event   TEXT NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX queue_log_call ON queue_log (call, id);

CREATE TABLE voicemail (
    id          TEXT PRIMARY KEY NOT NULL,
    mailbox     TEXT NOT NULL,
    caller      TEXT NOT NULL,
    call        TEXT NOT NULL,
    time_ms     INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    path        TEXT NOT NULL
);
CREATE INDEX voicemail_mailbox ON voicemail (mailbox, time_ms);

-- One row: the registrar's latest snapshot.
CREATE TABLE registrations (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    snapshot    TEXT NOT NULL,
    saved_at_ms INTEGER NOT NULL
);
