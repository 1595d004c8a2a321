/*
 * xc-xmpp-query: a plain XMPP client for the test network's self-test and
 * for people: logs in, sends one query, prints the answer, leaves.
 *   disco-info JID [NODE]   XEP-0030 info (with --json: identities,
 *                           features, forms; for NODE "X#VER" also the
 *                           XEP-0115 verdict of VER against the answer, for
 *                           "urn:xmpp:caps#ALGO.B64" the XEP-0390 verdict)
 *   disco-items JID [NODE]  XEP-0030 items, XEP-0059 pages followed (at
 *                           most 50): one <query/> with every item, or with
 *                           --json one {jid, node, name} line per item
 *   version JID             XEP-0092
 *   room-caps ROOM NICK     joins ROOM as NICK, prints the caps of every
 *                           other occupant as JSON lines {node, hash, ver,
 *                           caps2}, without nicks or JIDs, then leaves
 * --join ROOM/NICK joins a room first (what a query to an occupant's room
 * JID needs: MUC services forward it only from occupants).
 * Exit status: 0 on a result, 1 on an iq (or join) error with the
 * condition on stderr, 2 on timeout or connection failure, 3 on usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <strophe.h>

#include "caps.h"
#include "buf.h"
#include "caps2.h"
#include "disco.h"
#include "log.h"
#include "softinfo.h"
#include "strophe_ev.h"
#include "xalloc.h"

#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define MAX_PAGES 50 /* disco#items pages followed with RSM */

enum qcmd { Q_DISCO_INFO, Q_DISCO_ITEMS, Q_VERSION, Q_ROOM_CAPS, Q__COUNT };

static const char *const qcmd_names[] = {
    [Q_DISCO_INFO] = "disco-info",
    [Q_DISCO_ITEMS] = "disco-items",
    [Q_VERSION] = "version",
    [Q_ROOM_CAPS] = "room-caps",
};
_Static_assert(ARRAY_LEN(qcmd_names) == Q__COUNT, "names table");

struct query {
    struct event_base *base;
    struct strophe_ev_conn *conn;
    enum qcmd cmd;
    const char *target; /* JID or room */
    const char *arg;    /* node or nick */
    const char *room_password;
    char *join_room; /* --join ROOM/NICK: joined before the query */
    const char *join_nick;
    bool joining; /* waiting for our own presence in join_room */
    bool json;
    bool done;
    unsigned page;        /* disco#items RSM page, 0-based */
    char id[16];          /* id of the iq in flight */
    struct buf items_xml; /* disco-items without --json: items so far */
    int status;           /* exit status; 2 until answered */
    struct event *timeout_ev;
    struct event *exit_ev;
};

static void send_query(struct query *q, const char *after);
static void on_items(struct query *q, xmpp_stanza_t *child);

static void finish(struct query *q, int status)
{
    struct timeval grace = {2, 0};

    if (q->done)
        return;
    q->done = true;
    q->status = status;
    if (q->conn && strophe_ev_conn_online(q->conn)) {
        strophe_ev_conn_close(q->conn); /* DOWN ends the loop */
        event_add(q->exit_ev, &grace);
    } else {
        event_base_loopexit(q->base, NULL);
    }
}

static void print_stanza(xmpp_stanza_t *st)
{
    char *text;
    size_t len;
    if (xmpp_stanza_to_text(st, &text, &len) == 0) {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        xmpp_free(xmpp_stanza_get_context(st), text);
    }
}

static const char *error_condition(xmpp_stanza_t *st)
{
    xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(st, "error");
    for (xmpp_stanza_t *ch = err ? xmpp_stanza_get_children(err) : NULL; ch;
         ch = xmpp_stanza_get_next(ch)) {
        const char *name = xmpp_stanza_get_name(ch);
        if (xmpp_stanza_is_tag(ch) && name && strcmp(name, "text") != 0)
            return name;
    }
    return "undefined-condition";
}

static json_t *disco_json(const struct disco_info *info)
{
    json_t *ids = json_array(), *feats = json_array(), *forms = json_array();

    for (size_t k = 0; k < info->n_identities; k++) {
        const struct disco_identity *id = &info->identities[k];
        json_array_append_new(ids,
                              json_pack("{s:s,s:s,s:s?,s:s?}", "category",
                                        id->category, "type", id->type, "lang",
                                        *id->lang ? id->lang : NULL, "name",
                                        *id->name ? id->name : NULL));
    }
    for (size_t k = 0; k < info->n_features; k++)
        json_array_append_new(feats, json_string(info->features[k]));
    for (size_t k = 0; k < info->n_forms; k++) {
        const struct dataform *f = info->forms[k];
        const char *ft = NULL;
        json_t *fields = json_array();
        dataform_form_type(f, &ft);
        for (size_t j = 0; j < f->n_fields; j++) {
            const struct dataform_field *fl = f->fields[j];
            json_t *vals = json_array();
            for (size_t v = 0; v < fl->n_values; v++)
                json_array_append_new(vals, json_string(fl->values[v]));
            json_array_append_new(
                fields, json_pack("{s:s,s:s?,s:o}", "var", fl->var, "type",
                                  *fl->type ? fl->type : NULL, "values", vals));
        }
        json_array_append_new(
            forms, json_pack("{s:s?,s:o}", "form_type", ft, "fields", fields));
    }
    return json_pack("{s:o,s:o,s:o}", "identities", ids, "features", feats,
                     "forms", forms);
}

/* Adds the XEP-0115 / XEP-0390 verdict when node names a hash. */
static void add_caps_verdict(json_t *out, const struct disco_info *info,
                             const char *node)
{
    size_t nlen;
    const char *ver;
    const char *algo, *b64;
    size_t alen, blen;

    if (!node)
        return;
    if (strncmp(node, CAPS2_NS "#", strlen(CAPS2_NS) + 1) == 0 &&
        caps2_hash_node_parse(node, &algo, &alen, &b64, &blen)) {
        char *a = xstrndup(algo, alen), *b = xstrndup(b64, blen);
        enum caps2_error e = CAPS2_ERR_NONE;
        enum caps2_outcome o = caps2_verify(info, a, b, &e);
        json_object_set_new(out, "caps2",
                            json_pack("{s:s,s:s,s:s,s:s?}", "algo", a, "hash",
                                      b, "outcome", caps2_outcome_name(o),
                                      "error", caps2_error_name(e)));
        free(a);
        free(b);
        return;
    }
    if (caps_node_split(node, &nlen, &ver)) {
        struct caps_result r;
        caps_result_init(&r);
        enum caps_outcome o = caps_verify(info, "sha-1", ver, 0, &r);
        json_object_set_new(out, "caps",
                            json_pack("{s:s,s:s,s:s?,s:s?}", "ver", ver,
                                      "outcome", caps_outcome_name(o),
                                      "matched_by", caps_result_matched_by(&r),
                                      "error", caps_error_name(r.error)));
        caps_result_free(&r);
    }
}

static void print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(j);
}

static void on_result(struct query *q, xmpp_stanza_t *st)
{
    xmpp_stanza_t *child = NULL;

    for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch;
         ch = xmpp_stanza_get_next(ch))
        if (xmpp_stanza_is_tag(ch)) {
            child = ch;
            break;
        }
    if (q->cmd == Q_DISCO_ITEMS) {
        on_items(q, child);
        return;
    }
    if (!q->json) {
        print_stanza(child ? child : st);
        finish(q, 0);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    if (child && xmpp_stanza_to_text(child, &text, &len) != 0)
        text = NULL;
    struct parse_err err = {0};
    switch (q->cmd) {
    case Q_DISCO_INFO: {
        struct disco_info *info =
            text ? disco_parse(text, len, NULL, &err) : NULL;
        if (!info) {
            fprintf(stderr, "unparsable disco#info answer: %s\n", err.msg);
            finish(q, 1);
            break;
        }
        json_t *out = disco_json(info);
        if (q->arg)
            json_object_set_new(out, "node", json_string(q->arg));
        add_caps_verdict(out, info, q->arg);
        print_json(out);
        disco_info_free(info);
        finish(q, 0);
        break;
    }
    case Q_DISCO_ITEMS:
        on_items(q, child);
        break;
    case Q_VERSION: {
        struct softinfo_version v;
        if (!text || !softinfo_version_parse(text, len, NULL, &v, &err)) {
            fprintf(stderr, "unparsable version answer: %s\n", err.msg);
            finish(q, 1);
            break;
        }
        print_json(json_pack("{s:s?,s:s?,s:s?}", "name", v.name, "version",
                             v.version, "os", v.os));
        softinfo_version_free(&v);
        finish(q, 0);
        break;
    }
    default:
        finish(q, 0);
        break;
    }
    if (text)
        xmpp_free(xmpp_stanza_get_context(st), text);
}

/* True if a muc#user <status code='code'/> is in the presence. */
static bool has_status(xmpp_stanza_t *st, const char *code)
{
    xmpp_stanza_t *x =
        xmpp_stanza_get_child_by_name_and_ns(st, "x", NS_MUC_USER);
    for (xmpp_stanza_t *s = x ? xmpp_stanza_get_children(x) : NULL; s;
         s = xmpp_stanza_get_next(s)) {
        const char *name = xmpp_stanza_get_name(s);
        const char *v = xmpp_stanza_get_attribute(s, "code");
        if (name && v && strcmp(name, "status") == 0 && strcmp(v, code) == 0)
            return true;
    }
    return false;
}

/* room-caps: one presence of the room. */
static void on_room_presence(struct query *q, xmpp_stanza_t *st)
{
    const char *from = xmpp_stanza_get_from(st);
    const char *type = xmpp_stanza_get_type(st);
    size_t rlen = strlen(q->target);

    if (!from || strncasecmp(from, q->target, rlen) != 0 || from[rlen] != '/')
        return;
    if (type && strcmp(type, "error") == 0) {
        fprintf(stderr, "could not join: %s\n", error_condition(st));
        finish(q, 1);
        return;
    }
    if (type && strcmp(type, "unavailable") == 0)
        return;
    xmpp_stanza_t *x =
        xmpp_stanza_get_child_by_name_and_ns(st, "x", NS_MUC_USER);
    bool self = false, created = false;
    for (xmpp_stanza_t *s = x ? xmpp_stanza_get_children(x) : NULL; s;
         s = xmpp_stanza_get_next(s)) {
        const char *name = xmpp_stanza_get_name(s);
        const char *code = xmpp_stanza_get_attribute(s, "code");
        if (name && strcmp(name, "status") == 0 && code) {
            self = self || strcmp(code, "110") == 0;
            created = created || strcmp(code, "201") == 0;
        }
    }
    if (self && created) {
        /* XEP-0045 s10.1: our join created the room; leaving the locked,
         * empty room lets the service destroy it */
        fprintf(stderr, "room did not exist\n");
        finish(q, 1);
        return;
    }
    if (self || strcmp(from + rlen + 1, q->arg) == 0) {
        /* XEP-0045 s7.2.3: our own presence comes last */
        if (self)
            finish(q, 0);
        return;
    }
    xmpp_stanza_t *c = xmpp_stanza_get_child_by_name_and_ns(st, "c", NS_CAPS);
    xmpp_stanza_t *c2 = xmpp_stanza_get_child_by_name_and_ns(st, "c", CAPS2_NS);
    json_t *caps2 = json_null();
    if (c2) {
        caps2 = json_object();
        for (xmpp_stanza_t *h = xmpp_stanza_get_children(c2); h;
             h = xmpp_stanza_get_next(h)) {
            const char *algo = xmpp_stanza_get_attribute(h, "algo");
            char *t = xmpp_stanza_get_text(h);
            if (algo && t)
                json_object_set_new(caps2, algo, json_string(t));
            if (t)
                xmpp_free(xmpp_stanza_get_context(st), t);
        }
    }
    print_json(json_pack(
        "{s:s?,s:s?,s:s?,s:o}", "node",
        c ? xmpp_stanza_get_attribute(c, "node") : NULL, "hash",
        c ? xmpp_stanza_get_attribute(c, "hash") : NULL, "ver",
        c ? xmpp_stanza_get_attribute(c, "ver") : NULL, "caps2", caps2));
}

/* --join: our own presence in the room means joined (XEP-0045 s7.2.3:
 * it comes after every other occupant's), then the query goes out. */
static void on_join_presence(struct query *q, xmpp_stanza_t *st)
{
    const char *from = xmpp_stanza_get_from(st);
    const char *type = xmpp_stanza_get_type(st);
    size_t rlen = strlen(q->join_room);

    if (!from || strncasecmp(from, q->join_room, rlen) != 0 ||
        from[rlen] != '/')
        return;
    if (type && strcmp(type, "error") == 0) {
        fprintf(stderr, "could not join: %s\n", error_condition(st));
        finish(q, 1);
        return;
    }
    if (type || !has_status(st, "110"))
        return;
    if (has_status(st, "201")) {
        fprintf(stderr, "room did not exist\n");
        finish(q, 1);
        return;
    }
    q->joining = false;
    send_query(q, NULL);
}

static void stanza_cb(struct strophe_ev_conn *conn, xmpp_stanza_t *st, void *ud)
{
    struct query *q = ud;
    const char *name = xmpp_stanza_get_name(st);

    if (q->done || !name)
        return;
    if (q->cmd == Q_ROOM_CAPS) {
        if (strcmp(name, "presence") == 0)
            on_room_presence(q, st);
        return;
    }
    if (q->joining) {
        if (strcmp(name, "presence") == 0)
            on_join_presence(q, st);
        return;
    }
    if (strcmp(name, "iq") != 0)
        return;
    const char *id = xmpp_stanza_get_id(st);
    const char *type = xmpp_stanza_get_type(st);
    if (!id || strcmp(id, q->id) != 0 || !type)
        return;
    if (strcmp(type, "error") == 0) {
        fprintf(stderr, "%s\n", error_condition(st));
        finish(q, 1);
    } else if (strcmp(type, "result") == 0) {
        on_result(q, st);
    }
}

static void on_items(struct query *q, xmpp_stanza_t *child)
{
    size_t n = 0;

    for (xmpp_stanza_t *it = child ? xmpp_stanza_get_children(child) : NULL; it;
         it = xmpp_stanza_get_next(it)) {
        const char *name = xmpp_stanza_get_name(it);
        if (!xmpp_stanza_is_tag(it) || !name || strcmp(name, "item"))
            continue;
        n++;
        if (!q->json) {
            char *text;
            size_t len;
            if (xmpp_stanza_to_text(it, &text, &len) == 0) {
                buf_append(&q->items_xml, text, len);
                xmpp_free(xmpp_stanza_get_context(it), text);
            }
            continue;
        }
        print_json(json_pack("{s:s?,s:s?,s:s?}", "jid",
                             xmpp_stanza_get_attribute(it, "jid"), "node",
                             xmpp_stanza_get_attribute(it, "node"), "name",
                             xmpp_stanza_get_attribute(it, "name")));
    }
    /* XEP-0059 s2.2: ask for the page after <last/> while pages come */
    xmpp_stanza_t *set =
        child ? xmpp_stanza_get_child_by_name_and_ns(child, "set", NS_RSM)
              : NULL;
    xmpp_stanza_t *last =
        set ? xmpp_stanza_get_child_by_name(set, "last") : NULL;
    char *after = last ? xmpp_stanza_get_text(last) : NULL;
    if (after && *after && n > 0 && q->page + 1 < MAX_PAGES) {
        q->page++;
        send_query(q, after);
    } else {
        if (!q->json) {
            /* one <query/> holding the items of every page */
            printf("<query xmlns='%s'>%s</query>\n", NS_ITEMS,
                   buf_str(&q->items_xml));
        }
        finish(q, 0);
    }
    if (after)
        xmpp_free(xmpp_stanza_get_context(child), after);
}

/* XEP-0045 s7.2: joins room as nick (with --room-password if given). */
static void send_join(struct query *q, const char *room, const char *nick)
{
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(q->conn);
    char *to = xasprintf("%s/%s", room, nick);
    xmpp_stanza_t *st = xmpp_presence_new(ctx);
    xmpp_stanza_t *x = xmpp_stanza_new(ctx);

    xmpp_stanza_set_to(st, to);
    xmpp_stanza_set_name(x, "x");
    xmpp_stanza_set_ns(x, NS_MUC);
    if (q->room_password) {
        xmpp_stanza_t *pw = xmpp_stanza_new(ctx);
        xmpp_stanza_t *t = xmpp_stanza_new(ctx);
        xmpp_stanza_set_name(pw, "password");
        xmpp_stanza_set_text(t, q->room_password);
        xmpp_stanza_add_child(pw, t);
        xmpp_stanza_add_child(x, pw);
        xmpp_stanza_release(t);
        xmpp_stanza_release(pw);
    }
    xmpp_stanza_add_child(st, x);
    strophe_ev_conn_send(q->conn, st);
    xmpp_stanza_release(x);
    xmpp_stanza_release(st);
    free(to);
}

static void send_query(struct query *q, const char *after)
{
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(q->conn);

    if (q->cmd == Q_ROOM_CAPS) {
        send_join(q, q->target, q->arg);
        return;
    }
    xmpp_stanza_t *qe = xmpp_stanza_new(ctx);
    snprintf(q->id, sizeof q->id, "xq%u", q->page + 1);
    xmpp_stanza_t *st = xmpp_iq_new(ctx, "get", q->id);
    xmpp_stanza_set_to(st, q->target);
    xmpp_stanza_set_name(qe, "query");
    xmpp_stanza_set_ns(qe, q->cmd == Q_DISCO_INFO    ? DISCO_NS_INFO
                           : q->cmd == Q_DISCO_ITEMS ? NS_ITEMS
                                                     : SOFTINFO_NS_VERSION);
    if (q->arg && q->cmd != Q_VERSION)
        xmpp_stanza_set_attribute(qe, "node", q->arg);
    if (after) {
        /* XEP-0059 s2.2 */
        xmpp_stanza_t *set = xmpp_stanza_new(ctx);
        xmpp_stanza_t *a = xmpp_stanza_new(ctx);
        xmpp_stanza_t *t = xmpp_stanza_new(ctx);
        xmpp_stanza_set_name(set, "set");
        xmpp_stanza_set_ns(set, NS_RSM);
        xmpp_stanza_set_name(a, "after");
        xmpp_stanza_set_text(t, after);
        xmpp_stanza_add_child(a, t);
        xmpp_stanza_add_child(set, a);
        xmpp_stanza_add_child(qe, set);
        xmpp_stanza_release(t);
        xmpp_stanza_release(a);
        xmpp_stanza_release(set);
    }
    xmpp_stanza_add_child(st, qe);
    xmpp_stanza_release(qe);
    strophe_ev_conn_send(q->conn, st);
    xmpp_stanza_release(st);
}

static void state_cb(struct strophe_ev_conn *conn, enum strophe_ev_event ev,
                     const char *detail, void *ud)
{
    struct query *q = ud;

    if (ev == STROPHE_EV_ONLINE) {
        if (q->cmd == Q_ROOM_CAPS || q->join_room) {
            xmpp_stanza_t *p = xmpp_presence_new(strophe_ev_conn_ctx(conn));
            strophe_ev_conn_send(conn, p);
            xmpp_stanza_release(p);
        }
        if (q->join_room) {
            q->joining = true;
            send_join(q, q->join_room, q->join_nick);
            return;
        }
        send_query(q, NULL);
        return;
    }
    if (!q->done) {
        fprintf(stderr, "connection failed: %s\n", detail);
        q->done = true;
        q->status = 2;
    }
    event_base_loopexit(q->base, NULL);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct query *q = arg;
    if (!q->done)
        fprintf(stderr, "timeout\n");
    finish(q, 2);
    if (q->status == 2)
        event_base_loopexit(q->base, NULL);
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct query *q = arg;
    event_base_loopexit(q->base, NULL);
}

static char *read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (!f) {
        fprintf(stderr, "could not open \"%s\": %s\n", path, strerror(errno));
        return NULL;
    }
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return xstrdup(line);
}

/* libevent's own messages go to our log (its warnings are ours to judge) */
static void libevent_log_cb(int severity, const char *msg)
{
    enum log_level l = severity >= EVENT_LOG_ERR    ? LOG_ERROR
                       : severity >= EVENT_LOG_WARN ? LOG_WARN
                                                    : LOG_DEBUG;
    LOG_AT(l, "libevent", "%s", msg);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xc-xmpp-query --jid J --password-file F --host IP "
               "--port P [--plaintext]\n"
               "                     [--trust-tls] [--timeout S] [--json] "
               "[--room-password PW] [--join ROOM/NICK]\n"
               "                     [--log-level L] CMD ...\n"
               "commands: disco-info JID [NODE] | disco-items JID [NODE] | "
               "version JID | room-caps ROOM NICK\n"
               "exit: 0 result, 1 iq error, 2 timeout or connection failure\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"jid", required_argument, NULL, 'j'},
        {"password-file", required_argument, NULL, 'w'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"plaintext", no_argument, NULL, 'P'},
        {"trust-tls", no_argument, NULL, 'T'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'J'},
        {"room-password", required_argument, NULL, 'r'},
        {"join", required_argument, NULL, 'R'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *jid = NULL, *pwfile = NULL, *host = NULL;
    long port = 5222, timeout_s = 15;
    unsigned flags = 0;
    struct query q = {.status = 2};
    int o;

    log_max_level = LOG_WARN;
    while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (o) {
        case 'j':
            jid = optarg;
            break;
        case 'w':
            pwfile = optarg;
            break;
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = strtol(optarg, NULL, 10);
            break;
        case 'P':
            flags |= STROPHE_EV_PLAINTEXT;
            break;
        case 'T':
            flags |= STROPHE_EV_TRUST_TLS;
            break;
        case 't':
            timeout_s = strtol(optarg, NULL, 10);
            break;
        case 'J':
            q.json = true;
            break;
        case 'r':
            q.room_password = optarg;
            break;
        case 'R': {
            const char *slash = strchr(optarg, '/');
            if (!slash || slash == optarg || !slash[1]) {
                fprintf(stderr, "--join needs ROOM/NICK\n");
                return 3;
            }
            free(q.join_room);
            q.join_room = xstrndup(optarg, (size_t)(slash - optarg));
            q.join_nick = slash + 1;
            break;
        }
        case 'L': {
            enum log_level l;
            if (!log_level_parse(optarg, &l)) {
                fprintf(stderr, "unrecognized log level \"%s\"\n", optarg);
                return 3;
            }
            log_max_level = l;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 3;
        }
    }
    if (!jid || !pwfile || !host || port <= 0 || port > 65535 ||
        timeout_s <= 0 || optind >= argc) {
        usage(stderr);
        return 3;
    }
    q.cmd = Q__COUNT;
    for (int k = 0; k < Q__COUNT; k++)
        if (strcmp(argv[optind], qcmd_names[k]) == 0)
            q.cmd = (enum qcmd)k;
    int nargs = argc - optind - 1;
    if (q.cmd == Q__COUNT || (q.cmd == Q_ROOM_CAPS && nargs != 2) ||
        (q.cmd == Q_VERSION && nargs != 1) ||
        ((q.cmd == Q_DISCO_INFO || q.cmd == Q_DISCO_ITEMS) &&
         (nargs < 1 || nargs > 2))) {
        usage(stderr);
        return 3;
    }
    q.target = argv[optind + 1];
    q.arg = nargs > 1 ? argv[optind + 2] : NULL;
    if (q.cmd == Q_ROOM_CAPS)
        q.json = true;

    char *password = read_password(pwfile);
    if (!password)
        return 3;
    if (strophe_ev_cap_nofile() < 0)
        log_warn("could not cap the open file limit");
    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(libevent_log_cb);
    q.base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(q.base, 100);
    struct strophe_ev_params p = {.jid = jid,
                                  .password = password,
                                  .host = host,
                                  .port = (unsigned short)port,
                                  .flags = flags,
                                  .name = "query"};
    struct timeval tv = {(time_t)timeout_s, 0};
    q.timeout_ev = evtimer_new(q.base, timeout_cb, &q);
    q.exit_ev = evtimer_new(q.base, exit_cb, &q);
    event_add(q.timeout_ev, &tv);
    q.conn = strophe_ev_conn_new(sev, &p, state_cb, stanza_cb, &q);
    event_base_dispatch(q.base);

    strophe_ev_free(sev);
    event_free(q.timeout_ev);
    event_free(q.exit_ev);
    event_base_free(q.base);
    free(password);
    buf_free(&q.items_xml);
    free(q.join_room);
    fflush(stdout);
    return q.status;
}
