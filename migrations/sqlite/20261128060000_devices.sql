-- Devices that receive push notifications. `address` is the provider's token or the
-- Web Push / UnifiedPush subscription (JSON, as the device registered it). A device is
-- pushed the alerts after `last_alert_id`; it starts at the person's newest alert when
-- the device registers, so a new phone is not flooded with old alerts.
CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL CHECK (provider IN ('web_push', 'unified_push', 'fcm', 'apns')),
    address       TEXT NOT NULL,
    last_alert_id BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX devices_user ON devices (user_id);
