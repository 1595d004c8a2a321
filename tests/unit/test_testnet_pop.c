/*
 * Unit tests for the pure parts of xc-population (tests/testnet/pop/):
 * behaviour vocabulary, plan parsing and part selection, and, for every
 * real profile of tests/data/clients and every misbehaviour, that the
 * advertised ver verifies with the protocol core exactly as the client's
 * expected outcome says (and the XEP-0390 hash too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "caps.h"
#include "caps2.h"
#include "content.h"
#include "plan.h"
#include "xalloc.h"

static void test_behaviour_parse(void **state)
{
    static const struct {
        const char *s;
        bool ok;
        enum pop_bkind kind;
        unsigned arg;
        enum caps_method variant;
    } cases[] = {
        {"normal", true, POP_B_NORMAL, 0, CAPS_M_STRICT},
        {"poison", true, POP_B_POISON, 0, CAPS_M_STRICT},
        {"variant:escape-lt", true, POP_B_VARIANT, 0, CAPS_M_ESCAPE_LT},
        {"variant:escape-xml", true, POP_B_VARIANT, 0, CAPS_M_ESCAPE_XML},
        {"variant:formless-forms", true, POP_B_VARIANT, 0,
         CAPS_M_FORMLESS_FORMS},
        {"variant:utf16-order", false, 0, 0, 0},
        {"variant", false, 0, 0, 0},
        {"lenient-dups", true, POP_B_LENIENT_DUPS, 0, CAPS_M_STRICT},
        {"no-answer", true, POP_B_NO_ANSWER, 0, CAPS_M_STRICT},
        {"error-answer", true, POP_B_ERROR_ANSWER, 0, CAPS_M_STRICT},
        {"slow-answer:2500", true, POP_B_SLOW_ANSWER, 2500, CAPS_M_STRICT},
        {"slow-answer", false, 0, 0, 0},
        {"slow-answer:x", false, 0, 0, 0},
        {"slow-answer:9999999", false, 0, 0, 0},
        {"huge:3000", true, POP_B_HUGE, 3000, CAPS_M_STRICT},
        {"huge:3001", false, 0, 0, 0},
        {"huge:0", false, 0, 0, 0},
        {"flap", true, POP_B_FLAP, 0, CAPS_M_STRICT},
        {"flap:1", false, 0, 0, 0},
        {"leave-on-query", true, POP_B_LEAVE_ON_QUERY, 0, CAPS_M_STRICT},
        {"leave", false, 0, 0, 0},
        {"", false, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct pop_behaviour b;
        struct parse_err err = {0};
        bool ok = pop_behaviour_parse(cases[k].s, &b, &err);
        if (ok != cases[k].ok)
            fail_msg("behaviour \"%s\": ok %d", cases[k].s, ok);
        if (!ok) {
            assert_true(err.msg[0] != '\0');
            continue;
        }
        assert_int_equal(b.kind, cases[k].kind);
        assert_int_equal(b.arg, cases[k].arg);
        if (b.kind == POP_B_VARIANT)
            assert_int_equal(b.variant, cases[k].variant);
    }
}

static void test_part_parse_and_selection(void **state)
{
    unsigned i, n;
    assert_true(pop_part_parse("1/1", &i, &n));
    assert_true(pop_part_parse("3/12", &i, &n));
    assert_int_equal(i, 3);
    assert_int_equal(n, 12);
    assert_false(pop_part_parse("0/2", &i, &n));
    assert_false(pop_part_parse("3/2", &i, &n));
    assert_false(pop_part_parse("1/2x", &i, &n));
    assert_false(pop_part_parse("1", &i, &n));

    /* 10 clients in 3 parts: every client in exactly one part */
    struct buf b = BUF_INIT;
    buf_puts(&b, "{\"profiles\":{\"p\":{\"node\":\"n\"}},\"clients\":[");
    for (int k = 0; k < 10; k++)
        buf_printf(&b,
                   "%s{\"id\":%d,\"jid\":\"u%d@d.xnet\",\"password\":\"pw\","
                   "\"host\":\"127.0.0.1\",\"port\":5222,\"profile\":\"p\"}",
                   k ? "," : "", k, k);
    buf_puts(&b, "]}");
    struct parse_err err;
    struct pop_plan *plan = pop_plan_parse(b.data, b.len, &err);
    assert_non_null(plan);
    int seen[10] = {0};
    for (unsigned p = 1; p <= 3; p++)
        for (size_t k = 0; k < plan->n_clients; k++)
            if (pop_in_part(plan, k, p, 3))
                seen[k]++;
    for (int k = 0; k < 10; k++)
        assert_int_equal(seen[k], 1);
    assert_true(pop_in_part(plan, 0, 1, 3));
    assert_true(pop_in_part(plan, 9, 3, 3));
    pop_plan_free(plan);
    buf_free(&b);
}

static const char plan_text[] =
    "{\"seed\":7,\"parts\":2,\"profiles\":{\"g\":{\"software\":\"Gajim\","
    "\"version\":\"2.5.0\",\"node\":\"https://gajim.org\","
    "\"identities\":[{\"category\":\"client\",\"type\":\"pc\",\"name\":"
    "\"Gajim\",\"lang\":null}],\"features\":[\"urn:xmpp:ping\","
    "\"http://jabber.org/protocol/disco#info\"],\"forms\":[]}},"
    "\"clients\":[{\"id\":17,\"part\":2,\"jid\":\"u17@d003.xnet\","
    "\"password\":\"abc\",\"host\":\"127.0.1.3\",\"port\":5222,"
    "\"resource\":\"xc\",\"nick\":\"n17\",\"profile\":\"g\","
    "\"softinfo\":{\"os\":\"Linux\",\"os_version\":\"6.1\",\"software\":"
    "\"Tkabber\",\"software_version\":\"1.1.2\"},\"caps2\":true,"
    "\"behaviour\":\"slow-answer:1500\",\"rooms\":[\"r5@conference.d003."
    "xnet\"],\"creates\":[{\"room\":\"r6@conference.d003.xnet\","
    "\"public\":false,\"members_only\":true,\"password\":\"s\"}]}]}";

static void test_plan_parse(void **state)
{
    struct parse_err err;
    struct pop_plan *plan = pop_plan_parse(plan_text, strlen(plan_text), &err);

    assert_non_null(plan);
    assert_int_equal(plan->seed, 7);
    assert_int_equal(plan->parts, 2);
    assert_int_equal(plan->n_clients, 1);
    const struct pop_client *c = &plan->clients[0];
    assert_int_equal(c->id, 17);
    assert_int_equal(c->part, 2);
    assert_string_equal(c->jid, "u17@d003.xnet");
    assert_string_equal(c->profile->node, "https://gajim.org");
    assert_true(c->has_softinfo);
    assert_string_equal(c->sw, "Tkabber");
    assert_true(c->caps2);
    assert_int_equal(c->behaviour.kind, POP_B_SLOW_ANSWER);
    assert_int_equal(c->behaviour.arg, 1500);
    /* created rooms are rooms to be in too */
    assert_int_equal(c->n_rooms, 2);
    const struct pop_create *cr =
        pop_client_creates(c, "r6@conference.d003.xnet");
    assert_non_null(cr);
    assert_false(cr->public_room);
    assert_true(cr->members_only);
    assert_string_equal(cr->password, "s");
    assert_null(pop_client_creates(c, "r5@conference.d003.xnet"));
    assert_false(pop_in_part(plan, 0, 1, 2));
    assert_true(pop_in_part(plan, 0, 2, 2));
    pop_plan_free(plan);

    static const char *const bad[] = {
        "[",
        "{\"profiles\":{},\"clients\":{}}",
        "{\"profiles\":{},\"clients\":[{\"jid\":\"a@b\",\"password\":\"p\","
        "\"host\":\"h\",\"profile\":\"nope\"}]}",
        "{\"profiles\":{\"p\":{}},\"clients\":[{\"jid\":\"nodomain\","
        "\"password\":\"p\",\"host\":\"h\",\"profile\":\"p\"}]}",
        "{\"profiles\":{\"p\":{}},\"clients\":[{\"jid\":\"a@b\",\"password\":"
        "\"p\",\"host\":\"h\",\"profile\":\"p\",\"behaviour\":\"evil\"}]}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        plan = pop_plan_parse(bad[k], strlen(bad[k]), &err);
        assert_null(plan);
        assert_true(err.msg[0] != '\0');
    }
}

static const char *const behaviours[] = {
    "normal",
    "poison",
    "variant:escape-lt",
    "variant:escape-xml",
    "variant:formless-forms",
    "lenient-dups",
    "no-answer",
    "error-answer",
    "slow-answer:100",
    "huge:3000",
    "flap",
    "leave-on-query",
};

/* Builds a one-client plan for profile file path and behaviour. */
static struct pop_plan *one_client_plan(json_t *profile, const char *beh,
                                        bool softinfo)
{
    json_t *root =
        json_pack("{s:{s:O},s:[{s:i,s:s,s:s,s:s,s:i,s:s,s:b,s:s}]}", "profiles",
                  "p", profile, "clients", "id", 3, "jid", "u3@d.xnet",
                  "password", "pw", "host", "127.0.0.1", "port", 5222,
                  "profile", "p", "caps2", 1, "behaviour", beh);
    assert_non_null(root);
    if (softinfo)
        json_object_set_new(
            json_array_get(json_object_get(root, "clients"), 0), "softinfo",
            json_pack("{s:s,s:s,s:s,s:s}", "os", "Linux", "os_version",
                      "6.1.0-13-amd64", "software", "Psi<&>",
                      "software_version", "1.5"));
    char *text = json_dumps(root, 0);
    struct parse_err err;
    struct pop_plan *plan = pop_plan_parse(text, strlen(text), &err);
    if (!plan)
        fail_msg("plan: %s", err.msg);
    free(text);
    json_decref(root);
    return plan;
}

static int check_profile(const char *path)
{
    json_error_t jerr;
    json_t *profile = json_load_file(path, 0, &jerr);
    int checked = 0;

    if (!profile)
        fail_msg("%s: %s", path, jerr.text);
    for (size_t k = 0; k < sizeof behaviours / sizeof behaviours[0]; k++) {
        for (int si = 0; si < 2; si++) {
            struct pop_plan *plan = one_client_plan(profile, behaviours[k], si);
            struct pop_content pc;
            struct parse_err err;
            struct caps_result r;

            if (!pop_content_build(&plan->clients[0], &pc, &err))
                fail_msg("%s %s: %s", path, behaviours[k], err.msg);
            caps_result_init(&r);
            /* what a verifier that fetched node#ver would conclude */
            enum caps_outcome o =
                caps_verify(pc.served, "sha-1", pc.ver, 0, &r);
            const char *mb = caps_result_matched_by(&r);
            if (strcmp(caps_outcome_name(o), pc.outcome) != 0 ||
                (mb == NULL) != (pc.matched_by == NULL) ||
                (mb && strcmp(mb, pc.matched_by) != 0) ||
                (pc.error && (!caps_error_name(r.error) ||
                              strcmp(caps_error_name(r.error), pc.error))))
                fail_msg("%s %s softinfo %d: got %s/%s, expected %s/%s", path,
                         behaviours[k], si, caps_outcome_name(o),
                         mb ? mb : "none", pc.outcome,
                         pc.matched_by ? pc.matched_by : "none");
            /* the served XML parses back to the same verdict */
            struct parse_err perr;
            struct disco_info *back =
                disco_parse(pc.query_xml, strlen(pc.query_xml), NULL, &perr);
            if (!back)
                fail_msg("%s %s: served XML: %s", path, behaviours[k],
                         perr.msg);
            assert_int_equal(caps_verify(back, "sha-1", pc.ver, 0, &r), o);
            /* XEP-0390: valid except for the poisoner */
            if (pc.caps2[0]) {
                enum caps2_outcome o2 =
                    caps2_verify(back, "sha-256", pc.caps2, NULL);
                bool poison = strcmp(behaviours[k], "poison") == 0;
                assert_int_equal(o2, poison ? CAPS2_MISMATCH : CAPS2_VALID);
            }
            if (strncmp(behaviours[k], "huge:", 5) == 0)
                assert_true(pc.served->n_features >= 3000);
            disco_info_free(back);
            caps_result_free(&r);
            pop_content_free(&pc);
            pop_plan_free(plan);
            checked++;
        }
    }
    json_decref(profile);
    return checked;
}

static int check_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        n += check_profile(path);
        free(path);
    }
    closedir(d);
    return n;
}

static void test_ver_per_behaviour_real_profiles(void **state)
{
    int n = check_dir(XC_TEST_DATA "/clients");
    n += check_dir(XC_TEST_DATA "/clients/observed-capsdb");
    assert_true(n > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_behaviour_parse),
        cmocka_unit_test(test_part_parse_and_selection),
        cmocka_unit_test(test_plan_parse),
        cmocka_unit_test(test_ver_per_behaviour_real_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
