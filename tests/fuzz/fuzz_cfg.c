/*
 * Fuzz target for the configuration loader (lib/cfg on the xcensus table):
 * any bytes must give either a configuration or errors, never a crash, a
 * leak or unbounded work. Secrets are not read (CFG_NO_SECRETS), so that
 * the input cannot make the target open files. When a load succeeds, the
 * dump of the effective configuration must load again and dump the same:
 * `xcensus config show` output is always a valid configuration.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "xc_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xc_config cfg, again;
    struct cfg_errors errs = {0};
    if (!xc_config_load_buffer("fuzz", (const char *)data, size, &cfg,
                               CFG_NO_SECRETS, &errs)) {
        if (errs.n == 0)
            abort(); /* a failure must say why */
        for (size_t i = 0; i < errs.n; i++)
            if (strncmp(errs.e[i].text, "fuzz", 4) != 0)
                abort();
        cfg_errors_free(&errs);
        return 0;
    }
    struct buf a = BUF_INIT, b = BUF_INIT;
    cfg_dump_yaml(&xc_config_table, &cfg, &a);
    if (!xc_config_load_buffer("dump", a.data, a.len, &again, CFG_NO_SECRETS,
                               &errs)) {
        fprintf(stderr, "dump does not load: %s\n%s", errs.e[0].text,
                buf_str(&a));
        abort();
    }
    cfg_dump_yaml(&xc_config_table, &again, &b);
    if (strcmp(buf_str(&a), buf_str(&b)) != 0) {
        fprintf(stderr, "dump differs after reload:\n%s\n---\n%s", buf_str(&a),
                buf_str(&b));
        abort();
    }
    buf_free(&a);
    buf_free(&b);
    xc_config_free(&cfg);
    xc_config_free(&again);
    return 0;
}
