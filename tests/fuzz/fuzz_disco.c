/*
 * Fuzz target: disco#info XML -> parse with small limits, then every
 * XEP-0115 computation (strict, lenient, all variants, verification),
 * the XEP-0390 input, the serializer round trip and the software-info
 * extractors; the same bytes also go to the XEP-0092 parser. Nothing may
 * crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "caps.h"
#include "caps2.h"
#include "disco.h"
#include "softinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct disco_limits lim = {
        .max_input = 64 << 10,
        .max_depth = 12,
        .max_identities = 32,
        .max_features = 256,
        .max_forms = 8,
        .max_fields = 32,
        .max_values = 32,
        .max_string = 1024,
        .max_other = 256,
    };
    const char *xml = (const char *)data;
    struct parse_err err;
    struct softinfo_version v;
    if (softinfo_version_parse(xml, size, &lim, &v, &err))
        softinfo_version_free(&v);

    struct disco_info *info = disco_parse(xml, size, &lim, &err);
    if (info == NULL)
        return 0;
    struct buf s = BUF_INIT, notes = BUF_INIT;
    for (int m = 0; m < CAPS_M__COUNT; m++) {
        buf_reset(&s);
        caps_build_s(info, m, &s, &notes);
    }
    (void)caps_check(info);
    struct caps_result r;
    caps_result_init(&r);
    caps_verify(info, "sha-1", "AAAA",
                CAPS_VERIFY_ALL_VARIANTS | CAPS_VERIFY_KEEP_S, &r);
    caps_verify(info, "blake2b-256", NULL, 0, &r);
    caps_result_free(&r);

    buf_reset(&s);
    if (caps2_input(info, &s) == CAPS2_ERR_NONE) {
        char h[HASH_B64_MAX];
        bool ok;
        (void)caps2_hash(info, HASH_SHA256, h, &ok);
    }
    if (info->node) {
        const char *a, *b;
        size_t al, bl;
        if (caps2_hash_node_parse(info->node, &a, &al, &b, &bl))
            (void)caps2_verify(info, "sha-256", b, NULL);
    }

    /* serialize and parse again: must parse and hash identically */
    char *out = disco_info_to_xml(info);
    struct disco_info *again = disco_parse(out, strlen(out), NULL, &err);
    if (again == NULL)
        abort();
    char h1[HASH_B64_MAX], h2[HASH_B64_MAX];
    if (!caps_ver_compute(info, HASH_SHA1, CAPS_M_LENIENT, h1) ||
        !caps_ver_compute(again, HASH_SHA1, CAPS_M_LENIENT, h2) ||
        strcmp(h1, h2) != 0)
        abort();
    disco_info_free(again);
    free(out);

    struct softinfo si;
    softinfo_extract(info, &si);
    softinfo_free(&si);
    struct softinfo_contacts c;
    softinfo_contacts_extract(info, &c);
    softinfo_contacts_free(&c);
    struct softinfo_room room;
    softinfo_room_extract(info, &room);
    softinfo_room_free(&room);

    buf_free(&s);
    buf_free(&notes);
    disco_info_free(info);
    return 0;
}
