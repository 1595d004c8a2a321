/*
 * `xcensus caps`: offline entity-capabilities verification.
 *   caps verify [FILE|-]          one disco#info result: S, every hash,
 *                                 XEP-0390 input and hashes, notes,
 *                                 outcome, matched_by and variants
 *   caps verify-all FILE.jsonl    (or verify --capsdb FILE) every line of
 *                                 a capsdb-format file, summary table
 * Reads local files only; the XML goes through the same bounded parser
 * as the crawler's input.
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "caps.h"
#include "caps2.h"
#include "disco.h"
#include "hash.h"
#include "xalloc.h"

#define CAPS2_NODE_PREFIX "urn:xmpp:caps#"

static void usage_caps(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus caps verify [OPTIONS] [FILE|-]\n"
        "       xcensus caps verify-all [--json] [--by-node] FILE.jsonl\n"
        "       xcensus caps verify --capsdb FILE.jsonl [--json] [--by-node]\n"
        "\n"
        "verify: reads one disco#info <query/> (or an <iq/> holding one) from\n"
        "FILE or standard input (at most 1 MiB) and prints the XEP-0115\n"
        "verification string, its hash for every supported algorithm, the\n"
        "XEP-0390 input and hashes, processing notes, the outcome, what\n"
        "reproduced the advertised ver (matched_by) and every matching\n"
        "variant. The advertised ver is taken from the query's\n"
        "node='NODE#VER' (hash sha-1) or node='urn:xmpp:caps#ALGO.B64'\n"
        "(XEP-0390); the options override it.\n"
        "\n"
        "verify-all: verifies every line of a capsdb-format JSONL file\n"
        "(fields node, ver, hash, disco_info_xml, optional well_formed) and\n"
        "prints outcome x matched_by counts. Bad lines are reported with\n"
        "their number and skipped.\n"
        "\n"
        "options:\n"
        "      --ver VER       advertised ver (base64)\n"
        "      --hash ALGO     advertised hash algorithm (default sha-1;\n"
        "                      \"\" or \"legacy\" for a legacy ver)\n"
        "      --node NODE     caps node (NODE#VER or a XEP-0390 hash node)\n"
        "      --capsdb FILE   same as verify-all FILE\n"
        "      --by-node       verify-all: also counts per caps node\n"
        "      --json          one JSON object (verify-all: one per line,\n"
        "                      then a summary object)\n"
        "  -h, --help          this text\n"
        "\n"
        "outcomes: valid, ill-formed, mismatch, unsupported-hash, legacy,\n"
        "unparsable. matched_by: strict, lenient, a variant name, or none.\n"
        "\n"
        "exit status:\n"
        "  verify:     0 valid (the advertised ver verifies strictly; for a\n"
        "              XEP-0390 hash node: the hash verifies), 1 otherwise\n"
        "              (mismatch, ill-formed, unparsable, legacy,\n"
        "              unsupported-hash, no advertised ver), 2 usage error\n"
        "  verify-all: 0 if every line was read and no entry is mismatch,\n"
        "              unparsable or unsupported-hash and every entry with a\n"
        "              well_formed field agrees with it (valid <=> true),\n"
        "              1 otherwise, 2 usage error\n");
}

/* Writes s (n bytes) with non-printable bytes as \xNN; UTF-8 is kept. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

static bool read_input(const char *path, size_t max, struct buf *out,
                       bool *too_large)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "xcensus: could not open \"%s\": %m\n", path);
        return false;
    }
    char chunk[65536];
    size_t n;
    *too_large = false;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > max) {
            *too_large = true;
            break;
        }
        buf_append(out, chunk, n);
    }
    bool err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        fprintf(stderr, "xcensus: could not read \"%s\"\n", path);
        return false;
    }
    return true;
}

/* What was advertised, and where it came from. */
struct advert {
    const char *hash;   /* XEP-0115 algorithm name, NULL = legacy */
    const char *ver;    /* NULL if unknown */
    const char *source; /* "node", "options" */
    char *caps2_algo;   /* XEP-0390 hash node parts, or NULL */
    char *caps2_b64;
    char *owned_ver;
};

static void advert_from_node(struct advert *a, const char *node)
{
    if (node == NULL)
        return;
    const char *al, *b64;
    size_t all, bl;
    if (caps2_hash_node_parse(node, &al, &all, &b64, &bl)) {
        a->caps2_algo = xstrndup(al, all);
        a->caps2_b64 = xstrndup(b64, bl);
        a->source = "node";
        return;
    }
    size_t nl;
    const char *ver;
    if (caps_node_split(node, &nl, &ver) && ver[0]) {
        free(a->owned_ver);
        a->owned_ver = xstrdup(ver);
        a->ver = a->owned_ver;
        a->source = "node";
    }
}

static json_t *hashes_json(const char *s, size_t n)
{
    json_t *o = json_object();
    for (int a = 0; a < HASH__COUNT; a++) {
        char h[HASH_B64_MAX];
        if (hash_algo_available(a) && hash_b64(a, s, n, h))
            json_object_set_new(o, hash_algo_name(a), json_string(h));
    }
    return o;
}

static void print_hashes(const char *s, size_t n)
{
    for (int a = 0; a < HASH__COUNT; a++) {
        char h[HASH_B64_MAX];
        if (hash_algo_available(a) && hash_b64(a, s, n, h))
            printf("  %-12s %s\n", hash_algo_name(a), h);
    }
}

static int verify_one(const char *path, const char *opt_ver,
                      const char *opt_hash, bool hash_given,
                      const char *opt_node, bool json)
{
    struct buf in = BUF_INIT;
    bool too_large;
    if (!read_input(path, disco_limits_default.max_input, &in, &too_large))
        return 1;
    struct parse_err perr = {0};
    struct disco_info *info = NULL;
    if (too_large) {
        perr.code = DISCO_ERR_TOO_LARGE;
        snprintf(perr.msg, sizeof perr.msg, "input exceeds %zu bytes",
                 disco_limits_default.max_input);
    } else {
        info = disco_parse(in.data ? in.data : "", in.len, NULL, &perr);
    }

    struct advert adv = {.hash = "sha-1", .source = NULL};
    if (info)
        advert_from_node(&adv, info->node);
    if (opt_node) {
        free(adv.caps2_algo);
        free(adv.caps2_b64);
        adv.caps2_algo = adv.caps2_b64 = NULL;
        advert_from_node(&adv, opt_node);
        adv.source = "options";
    }
    if (opt_ver) {
        adv.ver = opt_ver;
        adv.source = "options";
    }
    if (hash_given)
        adv.hash = opt_hash;
    bool have_115 = adv.ver != NULL;

    struct caps_result r;
    caps_result_init(&r);
    if (have_115 || info == NULL)
        caps_verify(info, adv.hash, adv.ver,
                    CAPS_VERIFY_KEEP_S | CAPS_VERIFY_ALL_VARIANTS, &r);
    struct buf s = BUF_INIT, notes = BUF_INIT, in2 = BUF_INIT;
    enum caps_error ill = CAPS_ERR_NONE;
    enum caps2_error e2 = CAPS2_ERR_NONE;
    enum caps2_outcome o2 = CAPS2_UNPARSABLE;
    enum caps2_error adv_e2 = CAPS2_ERR_NONE;
    if (info) {
        caps_build_s(info, CAPS_M_STRICT, &s, &notes);
        ill = caps_check(info);
        e2 = caps2_input(info, &in2);
        if (adv.caps2_algo)
            o2 = caps2_verify(info, adv.caps2_algo, adv.caps2_b64, &adv_e2);
    } else if (adv.caps2_algo) {
        o2 = caps2_verify(NULL, adv.caps2_algo, adv.caps2_b64, &adv_e2);
    }
    const char *sdata = s.data ? s.data : "";
    const char *matched = caps_result_matched_by(&r);

    int rc;
    if (adv.caps2_algo && !have_115)
        rc = o2 == CAPS2_VALID ? 0 : 1;
    else
        rc = have_115 && r.outcome == CAPS_VALID ? 0 : 1;

    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "input", json_string(path));
        json_object_set_new(o, "input_bytes", json_integer((json_int_t)in.len));
        if (info == NULL) {
            json_object_set_new(o, "parse_error", json_string(perr.msg));
            json_object_set_new(o, "parse_error_code",
                                json_string(disco_err_name(perr.code)));
        } else {
            json_object_set_new(
                o, "node", info->node ? json_string(info->node) : json_null());
            json_object_set_new(o, "identities",
                                json_integer((json_int_t)info->n_identities));
            json_object_set_new(o, "features",
                                json_integer((json_int_t)info->n_features));
            json_object_set_new(o, "forms",
                                json_integer((json_int_t)info->n_forms));
        }
        json_t *ad = json_object();
        json_object_set_new(ad, "hash",
                            adv.hash ? json_string(adv.hash) : json_null());
        json_object_set_new(ad, "ver",
                            adv.ver ? json_string(adv.ver) : json_null());
        json_object_set_new(ad, "source",
                            adv.source ? json_string(adv.source) : json_null());
        json_object_set_new(o, "advertised", ad);
        if (info) {
            json_object_set_new(o, "verification_string",
                                json_stringn(sdata, s.len));
            json_object_set_new(o, "hashes", hashes_json(sdata, s.len));
            json_t *na = json_array();
            for (char *p = notes.data; p && *p;) {
                char *nl = strchr(p, '\n');
                json_array_append_new(na, json_stringn(p, (size_t)(nl - p)));
                p = nl + 1;
            }
            json_object_set_new(o, "processing_notes", na);
            json_object_set_new(o, "well_formed_error",
                                ill ? json_string(caps_error_name(ill))
                                    : json_null());
            json_t *x2 = json_object();
            if (e2 == CAPS2_ERR_NONE) {
                json_object_set_new(x2, "outcome", json_string("valid"));
                json_object_set_new(x2, "input_length",
                                    json_integer((json_int_t)in2.len));
                char *b64 = xmalloc(BASE64_ENCODED_SIZE(in2.len));
                base64_encode(in2.data ? in2.data : "", in2.len, b64);
                json_object_set_new(x2, "input_b64", json_string(b64));
                free(b64);
                json_t *hs = hashes_json(in2.data ? in2.data : "", in2.len);
                json_object_set_new(x2, "hashes", hs);
                json_t *nodes = json_object();
                const char *k;
                json_t *v;
                json_object_foreach(hs, k, v)
                {
                    char *hn = caps2_hash_node(k, json_string_value(v));
                    json_object_set_new(nodes, k, json_string(hn));
                    free(hn);
                }
                json_object_set_new(x2, "hash_nodes", nodes);
            } else {
                json_object_set_new(x2, "outcome", json_string("error"));
                json_object_set_new(x2, "error",
                                    json_string(caps2_error_name(e2)));
                json_object_set_new(x2, "error_text",
                                    json_string(caps2_error_text(e2)));
            }
            json_object_set_new(o, "xep0390", x2);
        }
        if (adv.caps2_algo) {
            json_t *v2 = json_object();
            json_object_set_new(v2, "algo", json_string(adv.caps2_algo));
            json_object_set_new(v2, "value", json_string(adv.caps2_b64));
            json_object_set_new(v2, "outcome",
                                json_string(caps2_outcome_name(o2)));
            json_object_set_new(o, "xep0390_advertised", v2);
        }
        if (have_115 || info == NULL) {
            json_object_set_new(o, "outcome",
                                json_string(caps_outcome_name(r.outcome)));
            json_object_set_new(o, "error",
                                r.error ? json_string(caps_error_name(r.error))
                                        : json_null());
            json_object_set_new(o, "matched_by",
                                matched ? json_string(matched) : json_null());
            json_object_set_new(o, "hash_strict",
                                r.hash_strict[0] ? json_string(r.hash_strict)
                                                 : json_null());
            json_object_set_new(o, "hash_lenient",
                                r.hash_lenient[0] ? json_string(r.hash_lenient)
                                                  : json_null());
            json_t *va = json_array();
            for (int m = 0; m < CAPS_M__COUNT; m++)
                if (r.variants_matched & (1u << m))
                    json_array_append_new(va, json_string(caps_method_name(m)));
            json_object_set_new(o, "variants_matched", va);
        } else {
            json_object_set_new(o, "outcome", json_null());
        }
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
    } else {
        printf("input: %s (%zu bytes)\n", path, in.len);
        if (info == NULL) {
            printf("parse error: %s (%s", perr.msg, disco_err_name(perr.code));
            if (perr.line)
                printf(", line %d column %d", perr.line, perr.column);
            printf(")\n");
        } else {
            printf("node: %s\n", info->node ? info->node : "(none)");
            printf("identities: %zu, features: %zu, forms: %zu\n",
                   info->n_identities, info->n_features, info->n_forms);
        }
        if (have_115)
            printf("advertised: hash=%s ver=%s (from %s)\n",
                   adv.hash && adv.hash[0] ? adv.hash : "(legacy)", adv.ver,
                   adv.source);
        if (adv.caps2_algo)
            printf("advertised XEP-0390: %s %s (from %s)\n", adv.caps2_algo,
                   adv.caps2_b64, adv.source);
        if (info) {
            printf("\nverification string (XEP-0115 5.1, %zu bytes%s):\n  ",
                   s.len, ill ? ", duplicates kept" : "");
            put_escaped(stdout, sdata, s.len);
            printf("\nhashes:\n");
            print_hashes(sdata, s.len);
            if (notes.len) {
                printf("processing notes:\n");
                for (char *p = notes.data; *p;) {
                    char *nl = strchr(p, '\n');
                    printf("  %.*s\n", (int)(nl - p), p);
                    p = nl + 1;
                }
            }
            if (ill)
                printf("ill-formed: %s\n", caps_error_name(ill));
            if (e2 == CAPS2_ERR_NONE) {
                printf("\nXEP-0390 input (%zu bytes):\n  ", in2.len);
                put_escaped(stdout, in2.data ? in2.data : "", in2.len);
                printf("\nXEP-0390 hashes:\n");
                print_hashes(in2.data ? in2.data : "", in2.len);
            } else {
                printf("\nXEP-0390: error: %s (%s)\n", caps2_error_text(e2),
                       caps2_error_name(e2));
            }
            if (adv.caps2_algo)
                printf("XEP-0390 outcome: %s\n", caps2_outcome_name(o2));
        }
        printf("\n");
        if (have_115 || info == NULL) {
            printf("outcome: %s\n", caps_outcome_name(r.outcome));
            printf("error: %s\n", r.error ? caps_error_name(r.error) : "-");
            printf("matched_by: %s\n", matched ? matched : "none");
            printf("matching variants:");
            bool any = false;
            for (int m = 0; m < CAPS_M__COUNT; m++) {
                if (r.variants_matched & (1u << m)) {
                    printf(" %s", caps_method_name(m));
                    any = true;
                }
            }
            printf("%s\n", any ? "" : " none");
        } else if (!adv.caps2_algo) {
            printf("outcome: none (no advertised ver: use --ver or a query "
                   "node NODE#VER)\n");
        }
    }
    caps_result_free(&r);
    buf_free(&s);
    buf_free(&notes);
    buf_free(&in2);
    buf_free(&in);
    free(adv.caps2_algo);
    free(adv.caps2_b64);
    free(adv.owned_ver);
    disco_info_free(info);
    return rc;
}

/* --- verify-all --- */

#define N_MATCH (CAPS_M__COUNT + 1) /* last column: none */
#define MAX_LINE (4 << 20)          /* a capsdb line: XML is <= 1 MiB */

struct node_count {
    char *node;
    size_t by_outcome[CAPS_OUTCOME__COUNT];
};

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const struct node_count *)a)->node,
                  ((const struct node_count *)b)->node);
}

static int verify_all(const char *path, bool json, bool by_node)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "xcensus: could not open \"%s\": %m\n", path);
        return 1;
    }
    size_t counts[CAPS_OUTCOME__COUNT][N_MATCH] = {{0}};
    size_t errors[CAPS_ERR__COUNT] = {0};
    size_t total = 0, bad = 0, disagree = 0, with_flag = 0, lineno = 0;
    struct node_count *nodes = NULL;
    size_t n_nodes = 0;
    struct caps_result r;
    caps_result_init(&r);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (n == 1 && line[0] == '\n')
            continue;
        if ((size_t)n > MAX_LINE) {
            fprintf(stderr, "%s:%zu: bad line: longer than %d bytes\n", path,
                    lineno, MAX_LINE);
            bad++;
            continue;
        }
        json_error_t jerr;
        json_t *e = json_loadb(line, (size_t)n, 0, &jerr);
        const char *xml = NULL, *hash = NULL, *ver = NULL, *node = NULL;
        if (e) {
            xml = json_string_value(json_object_get(e, "disco_info_xml"));
            hash = json_string_value(json_object_get(e, "hash"));
            ver = json_string_value(json_object_get(e, "ver"));
            node = json_string_value(json_object_get(e, "node"));
        }
        if (e == NULL || !json_is_object(e) || xml == NULL || ver == NULL) {
            fprintf(stderr, "%s:%zu: bad line: %s\n", path, lineno,
                    e == NULL ? jerr.text
                              : "need string fields disco_info_xml and ver");
            bad++;
            json_decref(e);
            continue;
        }
        total++;
        struct parse_err perr;
        enum caps_outcome o =
            caps_verify_xml(xml, strlen(xml), NULL, hash, ver, 0, &r, &perr);
        int col = r.matched_by >= 0 ? r.matched_by : CAPS_M__COUNT;
        counts[o][col]++;
        errors[r.error]++;
        json_t *wf = json_object_get(e, "well_formed");
        bool agrees = true;
        if (json_is_boolean(wf)) {
            with_flag++;
            agrees = json_is_true(wf) == (o == CAPS_VALID);
            if (!agrees)
                disagree++;
        }
        if (by_node) {
            const char *k = node ? node : "(none)";
            size_t i;
            for (i = 0; i < n_nodes; i++)
                if (strcmp(nodes[i].node, k) == 0)
                    break;
            if (i == n_nodes) {
                nodes = xreallocarray(nodes, n_nodes + 1, sizeof *nodes);
                memset(&nodes[n_nodes], 0, sizeof *nodes);
                nodes[n_nodes++].node = xstrdup(k);
            }
            nodes[i].by_outcome[o]++;
        }
        if (json) {
            json_t *j = json_object();
            json_object_set_new(j, "line", json_integer((json_int_t)lineno));
            json_object_set_new(j, "node",
                                node ? json_string(node) : json_null());
            json_object_set_new(j, "hash",
                                hash ? json_string(hash) : json_null());
            json_object_set_new(j, "ver", json_string(ver));
            json_object_set_new(j, "outcome",
                                json_string(caps_outcome_name(o)));
            json_object_set_new(j, "error",
                                r.error ? json_string(caps_error_name(r.error))
                                        : json_null());
            const char *mb = caps_result_matched_by(&r);
            json_object_set_new(j, "matched_by",
                                mb ? json_string(mb) : json_null());
            if (o == CAPS_UNPARSABLE)
                json_object_set_new(j, "parse_error", json_string(perr.msg));
            if (json_is_boolean(wf))
                json_object_set_new(j, "agrees_with_well_formed",
                                    json_boolean(agrees));
            json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            putchar('\n');
            json_decref(j);
        } else if (o == CAPS_UNPARSABLE) {
            fprintf(stderr, "%s:%zu: unparsable: %s\n", path, lineno, perr.msg);
        }
        json_decref(e);
    }
    free(line);
    bool read_err = ferror(f);
    if (f != stdin)
        fclose(f);
    caps_result_free(&r);
    if (read_err)
        fprintf(stderr, "xcensus: could not read \"%s\"\n", path);

    bool failed = read_err || bad > 0 || disagree > 0 ||
                  counts[CAPS_MISMATCH][CAPS_M__COUNT] +
                          counts[CAPS_UNPARSABLE][CAPS_M__COUNT] +
                          counts[CAPS_UNSUPPORTED_HASH][CAPS_M__COUNT] >
                      0;
    for (int m = 0; m < CAPS_M__COUNT; m++)
        failed = failed || counts[CAPS_MISMATCH][m] > 0;

    if (by_node && n_nodes > 1)
        qsort(nodes, n_nodes, sizeof *nodes, cmp_node);
    if (json) {
        json_t *sum = json_object();
        json_object_set_new(sum, "entries", json_integer((json_int_t)total));
        json_object_set_new(sum, "bad_lines", json_integer((json_int_t)bad));
        json_t *tab = json_object();
        for (int o = 0; o < CAPS_OUTCOME__COUNT; o++) {
            json_t *row = json_object();
            for (int m = 0; m < N_MATCH; m++)
                if (counts[o][m])
                    json_object_set_new(
                        row, m < CAPS_M__COUNT ? caps_method_name(m) : "none",
                        json_integer((json_int_t)counts[o][m]));
            if (json_object_size(row))
                json_object_set_new(tab, caps_outcome_name(o), row);
            else
                json_decref(row);
        }
        json_object_set_new(sum, "outcome_by_matched_by", tab);
        json_t *errs = json_object();
        for (int i = 1; i < CAPS_ERR__COUNT; i++)
            if (errors[i])
                json_object_set_new(errs, caps_error_name(i),
                                    json_integer((json_int_t)errors[i]));
        json_object_set_new(sum, "errors", errs);
        json_object_set_new(sum, "with_well_formed",
                            json_integer((json_int_t)with_flag));
        json_object_set_new(sum, "disagreeing_with_well_formed",
                            json_integer((json_int_t)disagree));
        if (by_node) {
            json_t *bn = json_object();
            for (size_t i = 0; i < n_nodes; i++) {
                json_t *row = json_object();
                for (int o = 0; o < CAPS_OUTCOME__COUNT; o++)
                    if (nodes[i].by_outcome[o])
                        json_object_set_new(
                            row, caps_outcome_name(o),
                            json_integer((json_int_t)nodes[i].by_outcome[o]));
                json_object_set_new(bn, nodes[i].node, row);
            }
            json_object_set_new(sum, "by_node", bn);
        }
        json_t *top = json_object();
        json_object_set_new(top, "summary", sum);
        json_dumpf(top, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(top);
    } else {
        printf("%s: %zu entries, %zu bad lines\n\n", path, total, bad);
        printf("%-18s %-22s %8s\n", "outcome", "matched_by", "count");
        for (int o = 0; o < CAPS_OUTCOME__COUNT; o++)
            for (int m = 0; m < N_MATCH; m++)
                if (counts[o][m])
                    printf("%-18s %-22s %8zu\n", caps_outcome_name(o),
                           m < CAPS_M__COUNT ? caps_method_name(m) : "none",
                           counts[o][m]);
        printf("%-18s %-22s %8zu\n", "total", "", total);
        bool any = false;
        for (int i = 1; i < CAPS_ERR__COUNT; i++) {
            if (errors[i]) {
                printf("%s%s %zu",
                       any ? ", " : "\nill-formed errors: ", caps_error_name(i),
                       errors[i]);
                any = true;
            }
        }
        if (any)
            printf("\n");
        if (with_flag)
            printf("\nwell_formed flag: %zu entries carry it, %zu disagree "
                   "with the outcome\n",
                   with_flag, disagree);
        if (by_node) {
            printf("\n%-60s %s\n", "node", "outcomes");
            for (size_t i = 0; i < n_nodes; i++) {
                printf("%-60s", nodes[i].node);
                for (int o = 0; o < CAPS_OUTCOME__COUNT; o++)
                    if (nodes[i].by_outcome[o])
                        printf(" %s=%zu", caps_outcome_name(o),
                               nodes[i].by_outcome[o]);
                printf("\n");
            }
        }
    }
    for (size_t i = 0; i < n_nodes; i++)
        free(nodes[i].node);
    free(nodes);
    return failed ? 1 : 0;
}

int cmd_caps(int argc, char **argv, const struct cli_globals *g)
{
    if (argc < 2) {
        usage_caps(stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        usage_caps(stdout);
        return 0;
    }
    bool all = strcmp(sub, "verify-all") == 0;
    if (!all && strcmp(sub, "verify") != 0) {
        fprintf(stderr, "xcensus caps: unrecognized subcommand \"%s\"\n", sub);
        usage_caps(stderr);
        return EXIT_USAGE;
    }
    enum {
        OPT_VER = 256,
        OPT_HASH,
        OPT_NODE,
        OPT_CAPSDB,
        OPT_JSON,
        OPT_BYNODE
    };
    static const struct option opts[] = {
        {"ver", required_argument, NULL, OPT_VER},
        {"hash", required_argument, NULL, OPT_HASH},
        {"node", required_argument, NULL, OPT_NODE},
        {"capsdb", required_argument, NULL, OPT_CAPSDB},
        {"json", no_argument, NULL, OPT_JSON},
        {"by-node", no_argument, NULL, OPT_BYNODE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ver = NULL, *hash = NULL, *node = NULL, *capsdb = NULL;
    bool json = false, by_node = false, hash_given = false;
    int c;
    optind = 0; /* reinitialise GNU getopt: argv + 1 is a new vector */
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_VER:
            ver = optarg;
            break;
        case OPT_HASH:
            hash = strcmp(optarg, "legacy") == 0 ? "" : optarg;
            hash_given = true;
            break;
        case OPT_NODE:
            node = optarg;
            break;
        case OPT_CAPSDB:
            capsdb = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_BYNODE:
            by_node = true;
            break;
        case 'h':
            usage_caps(stdout);
            return 0;
        default:
            usage_caps(stderr);
            return EXIT_USAGE;
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    if (all || capsdb) {
        if (ver || hash_given || node) {
            fprintf(stderr, "xcensus caps: --ver, --hash and --node do not "
                            "apply to verify-all\n");
            return EXIT_USAGE;
        }
        const char *file = capsdb;
        if (file == NULL && rest == 1)
            file = args[0];
        else if (rest != 0 || file == NULL) {
            fprintf(stderr, "xcensus caps: verify-all takes one FILE.jsonl\n");
            return EXIT_USAGE;
        }
        return verify_all(file, json, by_node);
    }
    if (rest > 1) {
        fprintf(stderr, "xcensus caps: verify takes at most one FILE\n");
        return EXIT_USAGE;
    }
    return verify_one(rest == 1 ? args[0] : "-", ver, hash, hash_given, node,
                      json);
}
