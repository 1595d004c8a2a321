/*
 * GET /metrics: Prometheus text format 0.0.4. What the database holds
 * (queue jobs by crawl and state, probe outcomes by probe and class, rows
 * ingested, ingest rate, rows per observation table, analysis runs, schema
 * version) comes from one read-only statement; the server's own counters
 * (requests by path class and status, a duration histogram per class,
 * connections, database pool) from memory. The database part is kept
 * for serve.cache_ttl and one query serves every scrape waiting for it
 * (it counts whole tables). When the database cannot
 * answer, the answer is still 200 with xcensus_database_up 0, so that a
 * scraper sees the outage instead of a gap.
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "pg.h"
#include "pgasync.h"
#include "srv_int.h"
#include "xalloc.h"

static const char *const class_names[] = {
    [SRV_C_API_LIST] = "api_list", [SRV_C_API] = "api",
    [SRV_C_HEALTHZ] = "healthz",   [SRV_C_METRICS] = "metrics",
    [SRV_C_STATIC] = "static",     [SRV_C_OTHER] = "other",
};
_Static_assert(ARRAY_LEN(class_names) == SRV_C__COUNT, "names table");

static const int status_codes[SRV_STATUS_SLOTS] = {
    200, 304, 400, 403, 404, 405, 413, 421, 431, 500, 503, 0, 0, 0, 0, 0,
};

static const double buckets[SRV_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10,
};

/* Slot of status in the counters; the last slot holds the others. */
int srv_status_slot(int status)
{
    for (int i = 0; i < SRV_STATUS_SLOTS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return SRV_STATUS_SLOTS - 1;
}

/* Counts one answered request of class cls. */
void srv_stats_record(struct srv_stats *st, enum srv_class cls, int status,
                      double seconds)
{
    st->requests[cls][srv_status_slot(status)]++;
    int b = 0;
    while (b < SRV_HIST_BUCKETS && seconds > buckets[b])
        b++;
    st->hist[cls][b]++;
    st->sum[cls] += seconds;
    st->count[cls]++;
}

/* Metrics of the database: (metric, label1, label2, value). The label
 * names of each metric are in db_metrics[] below. Probe outcomes come from
 * their rollup (sql/0030), kept by a trigger: counting a million rows per
 * scrape cost 150 ms. */
static const char metrics_sql[] =
    "SELECT 'queue_jobs', c.name, st.state, count(j.id)::float8"
    " FROM crawls c"
    " CROSS JOIN unnest(ARRAY['queued','leased','done','failed','cancelled'])"
    "   AS st(state)"
    " LEFT JOIN jobs j ON j.crawl_id = c.id AND j.state = st.state"
    " GROUP BY c.name, st.state"
    " UNION ALL SELECT 'probe_outcomes_total', probe, outcome,"
    "   sum(outcomes) FROM probe_outcome_counts GROUP BY probe, outcome"
    " UNION ALL SELECT 'observation_rows', relname, NULL, n_live_tup"
    " FROM pg_stat_user_tables WHERE relname IN ('disco_snapshots',"
    "   'software_versions', 'probe_outcomes', 'caps_entries',"
    "   'caps_observations', 'caps2_observations', 'room_observations',"
    "   'stream_features', 'tls_facts', 'srv_records', 'entities',"
    "   'domains', 'disco_contents')"
    " UNION ALL SELECT 'ingested_rows_total', NULL, NULL,"
    "   coalesce(sum(rows), 0) FROM store_batches"
    " UNION ALL SELECT 'ingest_rows_per_second', NULL, NULL,"
    "   coalesce(sum(rows), 0) / 300.0 FROM store_batches"
    "   WHERE committed_at > now() - interval '300 seconds'"
    " UNION ALL SELECT 'domains', NULL, NULL, count(*) FROM domains"
    " UNION ALL SELECT 'analysis_runs_total', NULL, NULL, count(*)"
    " FROM analysis_runs"
    " UNION ALL SELECT 'analysis_last_run_timestamp_seconds', NULL, NULL,"
    "   extract(epoch FROM max(created_at)) FROM analysis_runs"
    "   HAVING count(*) > 0"
    " UNION ALL SELECT 'schema_version', NULL, NULL, max(version)"
    " FROM schema_migrations"
    " ORDER BY 1, 2, 3";

struct db_metric {
    const char *name; /* without the xcensus_ prefix */
    const char *type;
    const char *l1, *l2; /* label names or NULL */
    const char *help;
};

static const struct db_metric db_metrics[] = {
    {"queue_jobs", "gauge", "crawl", "state",
     "jobs of each crawl's queue by state (done: completed jobs)"},
    {"probe_outcomes_total", "counter", "probe", "outcome",
     "probe outcomes recorded, by probe and outcome class"},
    {"observation_rows", "gauge", "table", NULL,
     "rows per observation table (PostgreSQL's live-row estimate)"},
    {"ingested_rows_total", "counter", NULL, NULL,
     "result rows committed by crawler storage writers"},
    {"ingest_rows_per_second", "gauge", NULL, NULL,
     "result rows committed per second over the last 5 minutes"},
    {"domains", "gauge", NULL, NULL, "domains known"},
    {"analysis_runs_total", "counter", NULL, NULL, "analysis runs stored"},
    {"analysis_last_run_timestamp_seconds", "gauge", NULL, NULL,
     "time of the latest analysis run (Unix seconds)"},
    {"schema_version", "gauge", NULL, NULL, "applied schema migration"},
};

static void put_label_value(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_putc(b, '\\');
        if (*v == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *v);
    }
}

static void put_head(struct buf *b, const char *name, const char *type,
                     const char *help)
{
    buf_printf(b, "# HELP xcensus_%s %s\n# TYPE xcensus_%s %s\n", name, help,
               name, type);
}

static void put_value(struct buf *b, double v)
{
    if (v == (double)(long long)v && v > -1e15 && v < 1e15)
        buf_printf(b, " %lld\n", (long long)v);
    else
        buf_printf(b, " %.17g\n", v);
}

static void put_db(struct buf *b, const struct pg_result *pr)
{
    int nr = pg_nrows(pr);
    for (size_t m = 0; m < ARRAY_LEN(db_metrics); m++) {
        const struct db_metric *d = &db_metrics[m];
        put_head(b, d->name, d->type, d->help);
        for (int i = 0; i < nr; i++) {
            if (strcmp(pg_value(pr, i, 0), d->name) != 0 || pg_isnull(pr, i, 3))
                continue;
            buf_printf(b, "xcensus_%s", d->name);
            if (d->l1) {
                buf_printf(b, "{%s=\"", d->l1);
                put_label_value(b, pg_value(pr, i, 1));
                buf_putc(b, '"');
                if (d->l2) {
                    buf_printf(b, ",%s=\"", d->l2);
                    put_label_value(b, pg_value(pr, i, 2));
                    buf_putc(b, '"');
                }
                buf_putc(b, '}');
            }
            put_value(b, strtod(pg_value(pr, i, 3), NULL));
        }
    }
}

static void put_own(struct buf *b, const struct srv *s, bool db_up)
{
    const struct srv_stats *st = &s->stats;
    put_head(b, "database_up", "gauge",
             "1 if the database answered this scrape's query");
    buf_printf(b, "xcensus_database_up %d\n", db_up);
    put_head(b, "http_requests_total", "counter",
             "HTTP requests answered, by path class and status code");
    for (int c = 0; c < SRV_C__COUNT; c++)
        for (int k = 0; k < SRV_STATUS_SLOTS; k++)
            if (st->requests[c][k]) {
                char code[16];
                if (status_codes[k])
                    snprintf(code, sizeof code, "%d", status_codes[k]);
                else
                    snprintf(code, sizeof code, "other");
                buf_printf(b,
                           "xcensus_http_requests_total{class=\"%s\","
                           "code=\"%s\"} %llu\n",
                           class_names[c], code,
                           (unsigned long long)st->requests[c][k]);
            }
    put_head(b, "http_request_duration_seconds", "histogram",
             "time from a complete request to its answer, by path class");
    for (int c = 0; c < SRV_C__COUNT; c++) {
        uint64_t cum = 0;
        for (int k = 0; k <= SRV_HIST_BUCKETS; k++) {
            cum += st->hist[c][k];
            if (k < SRV_HIST_BUCKETS)
                buf_printf(b,
                           "xcensus_http_request_duration_seconds_bucket{"
                           "class=\"%s\",le=\"%g\"} %llu\n",
                           class_names[c], buckets[k], (unsigned long long)cum);
            else
                buf_printf(b,
                           "xcensus_http_request_duration_seconds_bucket{"
                           "class=\"%s\",le=\"+Inf\"} %llu\n",
                           class_names[c], (unsigned long long)cum);
        }
        buf_printf(b,
                   "xcensus_http_request_duration_seconds_sum{class=\"%s\"} "
                   "%.6f\n",
                   class_names[c], st->sum[c]);
        buf_printf(b,
                   "xcensus_http_request_duration_seconds_count{class=\"%s\"}"
                   " %llu\n",
                   class_names[c], (unsigned long long)st->count[c]);
    }
    put_head(b, "http_connections_open", "gauge", "HTTP connections open");
    buf_printf(b, "xcensus_http_connections_open %zu\n", s->nconns);
    put_head(b, "http_connections_total", "counter",
             "HTTP connections accepted");
    buf_printf(b, "xcensus_http_connections_total %llu\n",
               (unsigned long long)st->connections);
    put_head(b, "http_connections_dropped_total", "counter",
             "connections shut down for not sending a complete request in "
             "time");
    buf_printf(b, "xcensus_http_connections_dropped_total %llu\n",
               (unsigned long long)st->dropped);
    put_head(b, "http_requests_waiting", "gauge",
             "requests waiting for the database");
    buf_printf(b, "xcensus_http_requests_waiting %zu\n", s->in_flight);
    put_head(b, "http_requests_refused_busy_total", "counter",
             "requests answered 503 because too many were waiting");
    buf_printf(b, "xcensus_http_requests_refused_busy_total %llu\n",
               (unsigned long long)st->busy);
    put_head(b, "api_cache_hits_total", "counter",
             "API pages answered from the cache (serve.cache_ttl)");
    buf_printf(b, "xcensus_api_cache_hits_total %llu\n",
               (unsigned long long)st->cache_hits);
    put_head(b, "api_coalesced_total", "counter",
             "API requests that waited for the same page's running query");
    buf_printf(b, "xcensus_api_coalesced_total %llu\n",
               (unsigned long long)st->coalesced);
    put_head(b, "api_db_queries_total", "counter",
             "API queries sent to the database");
    buf_printf(b, "xcensus_api_db_queries_total %llu\n",
               (unsigned long long)st->db_queries);
    put_head(b, "api_cache_bytes", "gauge", "memory held by kept answers");
    buf_printf(b, "xcensus_api_cache_bytes %zu\n", s->cache_bytes);
    put_head(b, "db_connections_up", "gauge",
             "database connections of the server that are up");
    buf_printf(b, "xcensus_db_connections_up %zu\n", srv_db_up(&s->db));
    put_head(b, "db_errors_total", "counter",
             "API queries that failed in the database");
    buf_printf(b, "xcensus_db_errors_total %llu\n",
               (unsigned long long)st->db_errors);
}

static const char prom_type[] = "text/plain; version=0.0.4; charset=utf-8";

static void reply(struct srv_req *r, const char *db_part, bool up)
{
    struct buf b = BUF_INIT;
    if (db_part)
        buf_puts(&b, db_part);
    put_own(&b, r->s, up);
    size_t len = b.len;
    srv_req_reply(r, 200, prom_type, "no-store", buf_steal(&b), len);
}

/* The database part arrived (or failed): every waiting scrape gets it. */
static void on_metrics(void *arg, const struct pga_result *res)
{
    struct srv *s = arg;
    bool up = res->status == PGA_OK && res->last;
    free(s->metrics_db);
    s->metrics_db = NULL;
    if (up) {
        struct buf b = BUF_INIT;
        put_db(&b, res->last);
        s->metrics_db = buf_steal(&b);
        s->metrics_expires_ms = clock_now_ms() + s->o.cache_ttl;
    }
    size_t n = s->metrics_n;
    struct srv_req **w = s->metrics_waiters;
    s->metrics_waiters = NULL;
    s->metrics_n = s->metrics_cap = 0;
    for (size_t i = 0; i < n; i++)
        reply(w[i], s->metrics_db, up);
    free(w);
}

/* GET /metrics: the kept database part, or a query shared by waiters. */
void srv_metrics(struct srv *s, struct evhttp_request *req, int64_t t0_us)
{
    struct srv_req *r = srv_req_new(s, req, SRV_C_METRICS, t0_us);
    if (s->metrics_db && clock_now_ms() < s->metrics_expires_ms) {
        reply(r, s->metrics_db, true);
        return;
    }
    if (s->metrics_n == s->metrics_cap) {
        s->metrics_cap = s->metrics_cap ? s->metrics_cap * 2 : 4;
        s->metrics_waiters = xreallocarray(s->metrics_waiters, s->metrics_cap,
                                           sizeof *s->metrics_waiters);
    }
    s->metrics_waiters[s->metrics_n++] = r;
    if (s->metrics_n > 1)
        return; /* the running query answers this one too */
    const char *why = NULL;
    if (srv_db_query(&s->db, metrics_sql, 0, NULL, on_metrics, s, &why) != 0) {
        s->metrics_n = 0;
        reply(r, NULL, false);
    }
}

/* Frees the kept database part. */
void srv_metrics_free(struct srv *s)
{
    free(s->metrics_db);
    s->metrics_db = NULL;
    free(s->metrics_waiters);
    s->metrics_waiters = NULL;
    s->metrics_n = s->metrics_cap = 0;
}
