/*
 * The analysis report: rendered from the analysis JSON only (so the prose
 * cannot claim a figure the data does not hold) into report.md,
 * analysis.json and one CSV per table.
 */
#include "analysis.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "xalloc.h"

static json_int_t geti(json_t *o, const char *path)
{
    json_t *v = json_object_get(o, path);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static double getr(json_t *o, const char *path)
{
    json_t *v = json_object_get(o, path);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *gets_(json_t *o, const char *path)
{
    json_t *v = json_object_get(o, path);
    return json_is_string(v) ? json_string_value(v) : "";
}

static double pct(double a, double b)
{
    return b > 0 ? 100.0 * a / b : 0.0;
}

static bool write_file(const char *dir, const char *name, const struct buf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(buf_str(b), 1, b->len, f) != b->len) {
        fprintf(stderr, "xcensus: could not write \"%s\": %s\n", path,
                strerror(errno));
        if (f)
            fclose(f);
        return false;
    }
    return fclose(f) == 0;
}

/* CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(struct buf *b, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* Markdown table cell: pipes escaped, line breaks flattened. */
static void md_cell(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            buf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r')
            buf_putc(b, ' ');
        else
            buf_putc(b, *s);
    }
}

/* The gnuplot script: every chart is drawn from a CSV file of the report
 * (never from the JSON, never by hand), as SVG. Labels are data, so
 * enhanced text (which gives ^ _ @ meaning) is off. */
static const char charts_gp[] =
    "# Written by xcensus analyze: draws the report's charts from its CSV files.\n"
    "set terminal svg size 900,500 dynamic noenhanced font 'sans,12' background rgb 'white'\n"
    "set datafile separator comma\n"
    "set key outside top center horizontal\n"
    "set grid ytics\n"
    "set yrange [0:*]\n"
    "set rmargin 10\n"
    "\n"
    "set output 'sizes.svg'\n"
    "set title 'Size of the cache, with and without XEP-0232 forms'\n"
    "set ylabel 'kB'\n"
    "set style data histograms\n"
    "set style histogram clustered gap 1\n"
    "set style fill solid 0.8 border -1\n"
    "set boxwidth 0.9\n"
    "set xtics rotate by -20 scale 0\n"
    "set bmargin 6\n"
    "plot 'sizes.csv' skip 1 using ($2/1000):xtic(1) title 'with XEP-0232', \\\n"
    "     '' skip 1 using ($3/1000) title 'without'\n"
    "\n"
    "set output 'collapse.svg'\n"
    "set title 'Entries per software (caps node), with and without XEP-0232 forms'\n"
    "set ylabel 'entries'\n"
    "set xtics rotate by -40 scale 0 font ',9'\n"
    "set bmargin 14\n"
    "plot 'xep0232_by_software.csv' skip 1 every ::0::19 using 2:xtic(1) title 'with XEP-0232', \\\n"
    "     '' skip 1 every ::0::19 using 4 title 'without'\n"
    "\n"
    "set output 'hit_rate_curve.svg'\n"
    "set title 'Hit rate of an LRU cache by its size (presence stream of the report)'\n"
    "set style data linespoints\n"
    "set logscale x 10\n"
    "set xlabel 'cache capacity (entries)'\n"
    "set ylabel 'hit rate (%)'\n"
    "set yrange [0:100]\n"
    "set xtics auto rotate by 0 font ',12'\n"
    "set format x '%.0f'\n"
    "set bmargin 4\n"
    "set grid xtics ytics\n"
    "plot 'hit_rate_curve.csv' skip 1 using ($1 > 0 ? $1 : 1/0):($2*100) lw 2 title 'with XEP-0232', \\\n"
    "     '' skip 1 using ($1 > 0 ? $1 : 1/0):($3*100) lw 2 title 'without'\n";

static const char *const chart_files[] = {"sizes.svg", "collapse.svg",
                                          "hit_rate_curve.svg"};
static const char *const chart_titles[] = {
    "Size of the cache with and without XEP-0232, per representation",
    "Entries per software with and without XEP-0232 (the 20 largest)",
    "Hit rate by cache size with and without XEP-0232",
};

/* Runs gnuplot on charts.gp in dir (at most 60 s); returns a note for the
 * report when it could not (NULL: it ran and exited 0). */
static const char *run_gnuplot(const char *dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return "could not start gnuplot (fork failed)";
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        int fd = open("charts.log", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execlp("gnuplot", "gnuplot", "charts.gp", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    for (int waited = 0;; waited++) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return "gnuplot could not be waited for";
        if (waited >= 600) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return "gnuplot took over 60 s and was stopped";
        }
        usleep(100000);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return "gnuplot is not installed (Debian package gnuplot-nox; "
               "scripts/install-deps installs it)";
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return "gnuplot failed (see charts.log)";
    return NULL;
}

/* Writes charts.gp, runs gnuplot and links the charts it drew from md, or
 * says why there are none; the report is written either way. */
static void report_charts(const char *dir, struct buf *md)
{
    struct buf gp = BUF_INIT;
    buf_puts(&gp, charts_gp);
    bool wrote = write_file(dir, "charts.gp", &gp);
    buf_free(&gp);
    for (size_t i = 0; i < sizeof chart_files / sizeof chart_files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, chart_files[i]);
        unlink(path); /* a chart of an earlier report must not pass for this one's */
    }
    const char *note = wrote ? run_gnuplot(dir) : "could not write charts.gp";
    size_t drawn = 0;
    for (size_t i = 0; i < sizeof chart_files / sizeof chart_files[0]; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, chart_files[i]);
        if (note == NULL && stat(path, &sb) == 0 && sb.st_size > 0) {
            buf_printf(md, "![%s](%s)\n\n", chart_titles[i], chart_files[i]);
            drawn++;
        }
    }
    if (note != NULL || drawn == 0) {
        buf_printf(md, "No charts: %s. The figures are in the tables above and "
                       "the CSV files; `gnuplot charts.gp` in this directory "
                       "draws them.\n\n",
                   note ? note : "gnuplot drew none (see charts.log)");
        if (note)
            fprintf(stderr, "xcensus: report without charts: %s\n", note);
    } else {
        buf_puts(md, "Drawn by gnuplot from the CSV files with `charts.gp` "
                     "(in this directory).\n\n");
    }
}

bool analysis_write_report(const char *dir, json_t *r)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "xcensus: could not create \"%s\": %s\n", dir,
                strerror(errno));
        return false;
    }
    json_t *ds = json_object_get(r, "dataset");
    json_t *sz = json_object_get(r, "sizes");
    json_t *cf = json_object_get(r, "xep0232");
    json_t *hr = json_object_get(r, "hit_rate");
    json_t *caches = json_object_get(hr, "caches");
    json_t *by = json_object_get(cf, "by_software");
    double entries = (double)geti(ds, "entries");
    double with = (double)geti(cf, "entries_with");
    double without = (double)geti(cf, "entries_without");
    double si = (double)geti(ds, "entries_with_xep0232");

    struct buf md = BUF_INIT;
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    buf_printf(&md, "# Caps-cache analysis\n\nWritten by xcensus %s on %s. "
                    "Every figure below is in `analysis.json`; tables are also "
                    "CSV files beside this one.\n\n",
               gets_(json_object_get(r, "meta"), "xcensus_version"), when);

    buf_puts(&md, "## Dataset\n\nSources: ");
    json_t *srcs = json_object_get(ds, "sources");
    if (json_array_size(srcs) == 0)
        buf_puts(&md, "every source in the database");
    for (size_t i = 0; i < json_array_size(srcs); i++)
        buf_printf(&md, "%s`%s`", i ? ", " : "",
                   json_string_value(json_array_get(srcs, i)));
    buf_printf(&md,
               ".\n\nOnly verified entries are counted: the advertised ver "
               "was reproduced, strictly (XEP-0115 section 5.4) or by a known "
               "implementation's computation (ill-formed entries with "
               "duplicates). A cache keyed by (hash algorithm, ver) holds "
               "one entry per distinct ver; a cache keyed by node#ver, as "
               "ejabberd's, one per node#ver.\n\n"
               "| figure | value |\n|---|---:|\n"
               "| entries by (algorithm, ver) | %lld |\n"
               "| keys by node#ver | %lld |\n"
               "| caps nodes (software) | %lld |\n"
               "| observations | %lld |\n"
               "| distinct features | %lld |\n"
               "| distinct feature sets | %lld |\n"
               "| features per entry (mean) | %.1f |\n"
               "| entries with a XEP-0232 form | %lld (%.1f %%) |\n"
               "| entries that expose an operating system | %lld |\n\n",
               (long long)geti(ds, "entries"), (long long)geti(ds, "nodever_keys"),
               (long long)geti(ds, "software_nodes"),
               (long long)geti(ds, "observations"),
               (long long)geti(ds, "distinct_features"),
               (long long)geti(ds, "distinct_feature_sets"),
               getr(ds, "features_per_entry"), (long long)si, pct(si, entries),
               (long long)geti(ds, "entries_exposing_os"));

    double xmlb = (double)geti(sz, "xml_bytes_total");
    buf_printf(&md,
               "## Size of the cache\n\nThe same entries in the representations "
               "real software uses. The two tables were built for the purpose "
               "in PostgreSQL from the stored content and measured with "
               "`pg_total_relation_size` (heap, TOAST, index).\n\n"
               "| representation | bytes | bytes per entry |\n|---|---:|---:|\n"
               "| raw disco#info XML | %lld | %.0f |\n"
               "| XEP-0115 verification strings | %lld | %.0f |\n"
               "| one row per feature (ejabberd `caps_features`, %lld rows) | %lld | %.0f |\n"
               "| one row per entry with its XML (Conversations-style) | %lld | %.0f |\n"
               "| interned model (feature ids, shared sets) | %lld | %.0f |\n\n",
               (long long)xmlb, entries > 0 ? xmlb / entries : 0,
               (long long)geti(sz, "verification_string_bytes_total"),
               entries > 0 ? (double)geti(sz, "verification_string_bytes_total") / entries : 0,
               (long long)geti(sz, "eav_rows"), (long long)geti(sz, "eav_relation_bytes"),
               entries > 0 ? (double)geti(sz, "eav_relation_bytes") / entries : 0,
               (long long)geti(sz, "xml_relation_bytes"),
               entries > 0 ? (double)geti(sz, "xml_relation_bytes") / entries : 0,
               (long long)geti(sz, "interned_model_bytes"),
               entries > 0 ? (double)geti(sz, "interned_model_bytes") / entries : 0);
    json_t *szwo = json_object_get(sz, "without_xep0232");
    buf_printf(&md,
               "Without the XEP-0232 forms the cache would hold %lld entries: %lld "
               "bytes of XML and %lld of verification strings (exact: one entry per "
               "hash without the form, the form's bytes taken off); about %lld bytes "
               "as one row per feature and %lld in the interned model (scaled by the "
               "feature rows and entries that remain). Both columns are in "
               "`sizes.csv` and the chart below.\n\n",
               (long long)geti(szwo, "entries"), (long long)geti(szwo, "xml_bytes_total"),
               (long long)geti(szwo, "verification_string_bytes_total"),
               (long long)geti(szwo, "eav_relation_bytes"),
               (long long)geti(szwo, "interned_model_bytes"));

    buf_printf(&md,
               "## Without XEP-0232\n\nEvery entry's hash recomputed with its "
               "software-information form removed (the rest of its disco#info "
               "unchanged): entries whose hashes then coincide would be one "
               "cache entry. (An entry advertised under two nodes is counted "
               "under the first.)\n\n%lld entries with XEP-0232 as deployed, %lld "
               "without: %lld (%.1f %%) exist only because of the form.\n\n"
               "| software (caps node) | entries | with XEP-0232 | without "
               "XEP-0232 |\n|---|---:|---:|---:|\n",
               (long long)with, (long long)without, (long long)(with - without),
               pct(with - without, with));
    struct buf csv = BUF_INIT;
    buf_puts(&csv, "node,entries,with_xep0232,entries_without_xep0232,observations\n");
    for (size_t i = 0; i < json_array_size(by); i++) {
        json_t *row = json_array_get(by, i);
        if (i < 20) {
            buf_puts(&md, "| ");
            md_cell(&md, gets_(row, "node"));
            buf_printf(&md, " | %lld | %lld | %lld |\n", (long long)geti(row, "entries"),
                       (long long)geti(row, "with_xep0232"),
                       (long long)geti(row, "entries_without_xep0232"));
        }
        csv_field(&csv, gets_(row, "node"));
        buf_printf(&csv, ",%lld,%lld,%lld,%lld\n", (long long)geti(row, "entries"),
                   (long long)geti(row, "with_xep0232"),
                   (long long)geti(row, "entries_without_xep0232"),
                   (long long)geti(row, "observations"));
    }
    if (json_array_size(by) > 20)
        buf_printf(&md, "\n(%zu more in `xep0232_by_software.csv`.)\n",
                   json_array_size(by) - 20);
    bool ok = write_file(dir, "xep0232_by_software.csv", &csv);

    buf_printf(&md,
               "\n## Hit rate\n\nA stream of %lld presences at %.0f per second "
               "(seed %lld) replayed through the caches real servers keep. "
               "Popularity: %s. Every miss is one disco#info query.\n\n"
               "| cache | hit rate with XEP-0232 | disco#info per 1,000 "
               "presences | hit rate without | disco#info per 1,000 without "
               "|\n|---|---:|---:|---:|---:|\n",
               (long long)geti(hr, "presences"), getr(hr, "rate_per_s"),
               (long long)geti(hr, "seed"), gets_(hr, "popularity"));
    buf_reset(&csv);
    buf_puts(&csv, "cache,capacity,ttl_s,hit_rate_with,queries_per_1000_with,"
                   "hit_rate_without,queries_per_1000_without\n");
    for (size_t i = 0; i < json_array_size(caches); i++) {
        json_t *row = json_array_get(caches, i);
        json_t *w = json_object_get(row, "with_xep0232");
        json_t *wo = json_object_get(row, "without_xep0232");
        buf_printf(&md, "| %s | %.2f %% | %.1f | %.2f %% | %.1f |\n",
                   gets_(row, "cache"), 100 * getr(w, "hit_rate"),
                   getr(w, "queries_per_1000"), 100 * getr(wo, "hit_rate"),
                   getr(wo, "queries_per_1000"));
        csv_field(&csv, gets_(row, "cache"));
        buf_printf(&csv, ",%lld,%lld,%.6f,%.3f,%.6f,%.3f\n",
                   (long long)geti(row, "capacity"), (long long)geti(row, "ttl_s"),
                   getr(w, "hit_rate"), getr(w, "queries_per_1000"),
                   getr(wo, "hit_rate"), getr(wo, "queries_per_1000"));
    }
    ok = ok && write_file(dir, "hit_rates.csv", &csv);

    /* software information in caps or over PEP */
    json_t *pep = json_object_get(r, "pep");
    json_t *per = json_object_get(pep, "per_1000_logins");
    buf_printf(&md,
               "\n## Software information in caps or over PEP\n\nPer 1,000 logins of "
               "a user with %lld contacts (%.0f %% online) who joins %lld rooms of "
               "%lld occupants: each login's presence reaches %.0f receivers, and "
               "each receiver whose cache misses asks disco#info (request %lld "
               "bytes, answer %.0f bytes on average with the XEP-0232 forms as "
               "deployed, %.0f without them: the form adds %.0f bytes where it is "
               "present). Over PEP the caps carry no form, and every login "
               "receives the last software item (XEP-0092 name, version, os; "
               "%.0f bytes as a notification) of each of its contacts; room "
               "occupants receive none.\n\n"
               "| cache | disco#info queries (XEP-0232 in caps) | bytes | disco#info "
               "queries (PEP) | PEP items | bytes |\n|---|---:|---:|---:|---:|---:|\n",
               (long long)geti(pep, "roster"), 100 * getr(pep, "online_share"),
               (long long)geti(pep, "rooms"), (long long)geti(pep, "room_size"),
               getr(pep, "presence_receivers_per_login"),
               (long long)geti(pep, "disco_request_bytes"),
               getr(pep, "disco_response_bytes_with"),
               getr(pep, "disco_response_bytes_without"), getr(pep, "form_bytes"),
               getr(pep, "pep_item_bytes"));
    buf_reset(&csv);
    buf_puts(&csv, "cache,disco_queries,disco_bytes,pep_disco_queries,pep_items,pep_bytes\n");
    for (size_t i = 0; i < json_array_size(per); i++) {
        json_t *row = json_array_get(per, i);
        buf_printf(&md, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", gets_(row, "cache"),
                   getr(row, "disco_queries"), getr(row, "disco_bytes"),
                   getr(row, "pep_disco_queries"), getr(row, "pep_items"),
                   getr(row, "pep_bytes"));
        csv_field(&csv, gets_(row, "cache"));
        buf_printf(&csv, ",%.1f,%.0f,%.1f,%.0f,%.0f\n", getr(row, "disco_queries"),
                   getr(row, "disco_bytes"), getr(row, "pep_disco_queries"),
                   getr(row, "pep_items"), getr(row, "pep_bytes"));
    }
    ok = ok && write_file(dir, "pep.csv", &csv);

    /* the three questions, each answered from the figures above */
    json_t *smack = json_array_get(caches, 0);
    json_t *prosody = json_array_get(caches, 2);
    double qw = getr(json_object_get(prosody, "with_xep0232"), "queries_per_1000");
    double qwo = getr(json_object_get(prosody, "without_xep0232"), "queries_per_1000");
    double sw = getr(json_object_get(smack, "with_xep0232"), "queries_per_1000");
    double swo = getr(json_object_get(smack, "without_xep0232"), "queries_per_1000");
    json_t *pep_smack = json_array_get(per, 0);
    double db = getr(pep_smack, "disco_bytes"), pb = getr(pep_smack, "pep_bytes");
    buf_printf(&md,
               "\n## The XEP-0232 Last Call questions\n\n"
               "**1. Is software information in disco#info a misuse of service "
               "discovery?** In this dataset %.1f %% of the entries carry it and "
               "%lld expose the operating system to anyone who asks. Because it "
               "enters the caps hash, descriptive state (version, OS build) "
               "multiplies the entries of one feature set: %lld of %lld entries "
               "(%.1f %%) differ only by it.\n\n"
               "**2. Does it make caps caches too large to search easily?** "
               "It makes them %.1f %% larger in entries (%lld instead of %lld). "
               "Whether that costs hits depends on the cache: with Smack's "
               "1,000-entry LRU, %.1f disco#info queries per 1,000 presences with "
               "XEP-0232 against %.1f without; with Prosody's 10,000 entries, "
               "%.1f against %.1f. Search cost per entry is in docs/BENCHMARKS.md: "
               "an indexed feature search stays under a millisecond at a million "
               "entries, so size, not search, is the cost.\n\n"
               "**3. Would publishing XEP-0092 data over PEP be better?** With "
               "the population above and a Smack-sized cache, software information "
               "in caps costs %.1f MB of disco#info traffic per 1,000 logins; "
               "over PEP, %.1f MB (%s), with the caps hash stable across OS "
               "builds and the data reaching only roster contacts, under the "
               "PEP node's access model, instead of every room occupant.\n\n",
               pct(si, entries), (long long)geti(ds, "entries_exposing_os"),
               (long long)(with - without), (long long)with, pct(with - without, with),
               without > 0 ? 100.0 * (with - without) / without : 0.0,
               (long long)with, (long long)without, sw, swo, qw, qwo, db / 1e6,
               pb / 1e6,
               pb < db ? "less" : "more: the last-item delivery to every contact "
                                  "at every login outweighs the queries saved");

    /* sizes with and without XEP-0232, per representation */
    json_t *szw = json_object_get(sz, "without_xep0232");
    double ew = (double)geti(szw, "entries");
    static const struct {
        const char *name, *key;
    } reps[] = {
        {"raw disco#info XML", "xml_bytes_total"},
        {"verification strings", "verification_string_bytes_total"},
        {"one row per feature (PostgreSQL)", "eav_relation_bytes"},
        {"one row per entry with XML (PostgreSQL)", "xml_relation_bytes"},
        {"interned model", "interned_model_bytes"},
    };
    buf_reset(&csv);
    buf_puts(&csv, "representation,bytes,bytes_without_xep0232,bytes_per_entry,"
                   "bytes_per_entry_without_xep0232\n");
    for (size_t i = 0; i < sizeof reps / sizeof reps[0]; i++) {
        double b = (double)geti(sz, reps[i].key), bw = (double)geti(szw, reps[i].key);
        csv_field(&csv, reps[i].name);
        buf_printf(&csv, ",%.0f,%.0f,%.1f,%.1f\n", b, bw, entries > 0 ? b / entries : 0,
                   ew > 0 ? bw / ew : 0);
    }
    ok = ok && write_file(dir, "sizes.csv", &csv);

    /* hit rate by cache size */
    json_t *curve = json_object_get(hr, "curve");
    buf_reset(&csv);
    buf_puts(&csv, "capacity,hit_rate_with,hit_rate_without,queries_per_1000_with,"
                   "queries_per_1000_without\n");
    for (size_t i = 0; i < json_array_size(curve); i++) {
        json_t *row = json_array_get(curve, i);
        buf_printf(&csv, "%lld,%.6f,%.6f,%.3f,%.3f\n", (long long)geti(row, "capacity"),
                   getr(row, "hit_rate_with"), getr(row, "hit_rate_without"),
                   getr(row, "queries_per_1000_with"), getr(row, "queries_per_1000_without"));
    }
    ok = ok && write_file(dir, "hit_rate_curve.csv", &csv);

    /* charts, drawn by gnuplot from the CSV files above */
    buf_puts(&md, "## Charts\n\n");
    if (ok)
        report_charts(dir, &md);

    ok = ok && write_file(dir, "report.md", &md);
    char *js = json_dumps(r, JSON_INDENT(1) | JSON_SORT_KEYS);
    struct buf jb = BUF_INIT;
    buf_puts(&jb, js);
    buf_putc(&jb, '\n');
    free(js);
    ok = ok && write_file(dir, "analysis.json", &jb);
    buf_free(&jb);
    buf_free(&csv);
    buf_free(&md);
    return ok;
}
