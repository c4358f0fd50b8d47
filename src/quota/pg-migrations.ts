import { lockKey, type Migration } from '../store/migrations.js';

/**
 * Advisory locks of the quota counters take this as their first key: the
 * two-key form never collides with a one-key lock (migrations) and the
 * constant keeps them apart from other components' two-key locks.
 */

/**
 * The quota counters' tables in PostgreSQL, and `mcp_quota_reserve`: the one
 * statement a node sends to reserve admissions for a request (all its scopes
 * at once) and to give back what it reserved and did not spend.
 *
 * Times are the database's (`clock_timestamp()`), so nodes with skewed clocks
 * still count in the same buckets; `p_now_ms` overrides it (tests).
 *
 * `mcp_quota_over_cap` is the listing caps' record (`max_tools`,
 * `max_resources`), written by the policy stage and read by `doctor`.
 */
export const QUOTA_MIGRATIONS: readonly Migration[] = [
  {
    component: 'quota',
    version: 1,
    name: 'usage counters, their reservation function, over-cap listings',
    sql: `
CREATE TABLE mcp_quota_counters (
  scope  TEXT   NOT NULL,
  bucket BIGINT NOT NULL,
  count  BIGINT NOT NULL,
  PRIMARY KEY (scope, bucket)
);

CREATE TABLE mcp_quota_over_cap (
  tenant  TEXT        NOT NULL,
  kind    TEXT        NOT NULL,
  listed  INTEGER     NOT NULL,
  cap     INTEGER     NOT NULL,
  seen_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant, kind)
);

CREATE FUNCTION mcp_quota_reserve(
  p_scopes          TEXT[],
  p_windows         TEXT[],
  p_limits          BIGINT[],
  p_wants           INTEGER[],
  p_release_scopes  TEXT[],
  p_release_buckets BIGINT[],
  p_release_counts  BIGINT[],
  p_now_ms          BIGINT,
  OUT now_ms          BIGINT,
  OUT refused         INTEGER,
  OUT granted         INTEGER[],
  OUT buckets         BIGINT[],
  OUT valid_ms        BIGINT[],
  OUT refused_buckets BIGINT[],
  OUT refused_counts  BIGINT[]
) LANGUAGE plpgsql AS $fn$
DECLARE
  v_n      INTEGER := coalesce(array_length(p_scopes, 1), 0);
  v_i      INTEGER;
  v_lock   BIGINT;
  v_now_s  BIGINT;
  v_month  TIMESTAMP;
  v_bucket BIGINT;
  v_first  BIGINT;
  v_end_ms BIGINT;
  v_used   BIGINT;
  v_grant  INTEGER;
  v_used_all BIGINT[] := '{}';
BEGIN
  now_ms := coalesce(p_now_ms, floor(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
  v_now_s := now_ms / 1000;
  granted := '{}';
  buckets := '{}';
  valid_ms := '{}';
  -- Every node takes its scopes' locks in one order (by the locked key, since
  -- two scopes may hash alike), so two requests never wait on each other in a circle.
  FOR v_lock IN
    SELECT DISTINCT ${lockKey("'quota:' || s")} FROM unnest(p_scopes || p_release_scopes) AS s ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(v_lock);
  END LOOP;

  -- Reservations a node will not spend (their bucket ended, it stops, ...).
  FOR v_i IN 1 .. coalesce(array_length(p_release_scopes, 1), 0) LOOP
    UPDATE mcp_quota_counters
       SET count = greatest(0, count - p_release_counts[v_i])
     WHERE scope = p_release_scopes[v_i] AND bucket = p_release_buckets[v_i];
  END LOOP;

  -- All or nothing: every scope must fit before any is counted.
  FOR v_i IN 1 .. v_n LOOP
    CASE p_windows[v_i]
      WHEN 'minute' THEN
        v_bucket := v_now_s;
        v_first := v_bucket - 60;
        v_end_ms := (v_bucket + 1) * 1000;
      WHEN 'day' THEN
        v_bucket := (v_now_s / 86400) * 86400;
        v_first := v_bucket;
        v_end_ms := (v_bucket + 86400) * 1000;
      WHEN 'month' THEN
        v_month := date_trunc('month', to_timestamp(v_now_s) AT TIME ZONE 'UTC');
        v_bucket := extract(epoch FROM v_month)::BIGINT;
        v_first := v_bucket;
        v_end_ms := extract(epoch FROM v_month + interval '1 month')::BIGINT * 1000;
      ELSE
        RAISE EXCEPTION 'unknown quota window %', p_windows[v_i];
    END CASE;
    SELECT coalesce(sum(c.count), 0) INTO v_used
      FROM mcp_quota_counters c
     WHERE c.scope = p_scopes[v_i] AND c.bucket >= v_first;
    IF v_used + 1 > p_limits[v_i] THEN
      refused := v_i - 1;
      SELECT coalesce(array_agg(c.bucket ORDER BY c.bucket), '{}'),
             coalesce(array_agg(c.count ORDER BY c.bucket), '{}')
        INTO refused_buckets, refused_counts
        FROM mcp_quota_counters c
       WHERE c.scope = p_scopes[v_i] AND c.bucket >= v_first AND c.count > 0;
      RETURN;
    END IF;
    buckets := buckets || v_bucket;
    valid_ms := valid_ms || (v_end_ms - now_ms);
    v_used_all := v_used_all || v_used;
  END LOOP;

  -- A share of what is left: the whole batch far from the limit, an eighth
  -- of the rest closer to it, one at a time at the end, so no node holds
  -- back admissions the others could use.
  FOR v_i IN 1 .. v_n LOOP
    v_grant := least(p_wants[v_i], greatest(1, (p_limits[v_i] - v_used_all[v_i]) / 8))::INTEGER;
    INSERT INTO mcp_quota_counters AS c (scope, bucket, count)
    VALUES (p_scopes[v_i], buckets[v_i], v_grant)
    ON CONFLICT (scope, bucket) DO UPDATE SET count = c.count + excluded.count;
    granted := granted || v_grant;
  END LOOP;
END
$fn$;`,
  },
];
